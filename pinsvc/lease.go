package pinsvc

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseState is the one etcd lease that holds every registration of a
// Server: keep-alives cost O(1) whatever the number of instances.
//
// mu guards the fields and is never held across an etcd call: the grant
// runs in its own goroutine, bounded by the Server's life and callTimeout,
// and callers wait for it with their own context (so a Register whose
// stream ends stops waiting at once, and Close never waits for etcd).
type leaseState struct {
	mu       sync.Mutex
	id       clientv3.LeaseID
	lost     event              // fired (under mu, by whoever forgets id) when id is lost
	stop     context.CancelFunc // ends id's keep-alive
	granting *leaseGrant        // the grant in flight, if any

	lastKA atomic.Int64 // unix nanos of the last keep-alive answer (or the grant)
}

// leaseGrant is one grant in flight; done is closed when it ends.
type leaseGrant struct {
	done chan struct{}
	err  error
}

// currentLease returns the Server's lease, granting it (and starting its
// keep-alive) when there is none, and a context done when it is lost. It
// returns when ctx ends even if the grant is still in flight.
func (s *Server) currentLease(ctx context.Context) (clientv3.LeaseID, context.Context, error) {
	for {
		s.lease.mu.Lock()
		if s.lease.id != 0 {
			defer s.lease.mu.Unlock()
			return s.lease.id, s.lease.lost.Context, nil
		}
		if s.ctx.Err() != nil {
			s.lease.mu.Unlock()
			return 0, nil, ErrClosed
		}
		g := s.lease.granting
		if g == nil {
			g = &leaseGrant{done: make(chan struct{})}
			s.lease.granting = g
			s.wg.Add(1) // under mu, before Close's cancel: Close waits for it
			go s.grantLease(g)
		}
		s.lease.mu.Unlock()
		select {
		case <-g.done:
			if g.err != nil {
				return 0, nil, g.err
			}
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}

// grantLease grants a lease and starts its keep-alive.
func (s *Server) grantLease(g *leaseGrant) {
	defer s.wg.Done()
	defer close(g.done)
	ttl := int64((s.cfg.LeaseTTL + time.Second - 1) / time.Second)
	ctx, cancel := context.WithTimeout(s.ctx, s.callTimeout())
	resp, err := s.cli.Grant(ctx, ttl)
	cancel()
	if err != nil {
		g.err = fmt.Errorf("pinsvc: grant registration lease: %w", err)
		if s.ctx.Err() != nil {
			g.err = ErrClosed
		}
		s.lease.mu.Lock()
		s.lease.granting = nil
		s.lease.mu.Unlock()
		return
	}
	id := resp.ID
	kctx, stop := context.WithCancel(s.ctx)
	ka, err := s.cli.KeepAlive(kctx, id)
	s.lease.mu.Lock()
	defer s.lease.mu.Unlock()
	s.lease.granting = nil
	if err != nil {
		stop()
		g.err = fmt.Errorf("pinsvc: keep registration lease alive: %w", err)
		return
	}
	s.lease.id, s.lease.lost, s.lease.stop = id, newEvent(), stop
	s.lease.lastKA.Store(time.Now().UnixNano())
	s.metrics.leases(1)
	s.log.Info("registration lease granted", "lease", fmt.Sprintf("%x", int64(id)), "ttl", (time.Duration(ttl) * time.Second).String())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for range ka {
			s.lease.lastKA.Store(time.Now().UnixNano())
		}
		if s.ctx.Err() != nil {
			return // Close revokes it
		}
		if s.dropLease(id) {
			s.log.Warn("registration lease lost: its registration streams end so that their instances register again", "lease", fmt.Sprintf("%x", int64(id)))
		}
	}()
}

// leaseSilentFor returns how long the current lease's keep-alives have gone
// unanswered (0 without a lease).
func (s *Server) leaseSilentFor(now time.Time) time.Duration {
	s.lease.mu.Lock()
	held := s.lease.id != 0
	s.lease.mu.Unlock()
	if !held {
		return 0
	}
	return now.Sub(time.Unix(0, s.lease.lastKA.Load()))
}

// dropLease forgets lease id (etcd no longer knows it, or it is abandoned):
// its keep-alive stops and the streams registered on it end. It reports
// whether id was the current lease.
func (s *Server) dropLease(id clientv3.LeaseID) bool {
	s.lease.mu.Lock()
	defer s.lease.mu.Unlock()
	if s.lease.id != id || id == 0 {
		return false
	}
	s.forgetLeaseLocked()
	return true
}

// abandonLease forgets the current lease without revoking it: its keys
// stay until etcd expires it, long enough for the instances to register
// through another pind (which takes the keys over) without leaving the
// floor.
func (s *Server) abandonLease() {
	s.lease.mu.Lock()
	defer s.lease.mu.Unlock()
	if s.lease.id != 0 {
		s.log.Warn("registration lease abandoned: it expires in etcd after its TTL", "lease", fmt.Sprintf("%x", int64(s.lease.id)))
		s.forgetLeaseLocked()
	}
}

func (s *Server) forgetLeaseLocked() {
	s.lease.stop()
	s.lease.lost.fire()
	s.lease.id, s.lease.lost, s.lease.stop = 0, event{}, nil
	s.metrics.leases(-1)
}

// revokeLease revokes the lease (deleting every registration key at once),
// bounded by callTimeout.
func (s *Server) revokeLease() error {
	s.lease.mu.Lock()
	id := s.lease.id
	if id != 0 {
		s.forgetLeaseLocked()
	}
	s.lease.mu.Unlock()
	if id == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.callTimeout())
	defer cancel()
	if _, err := s.cli.Revoke(ctx, id); err != nil {
		return fmt.Errorf("pinsvc: revoke registration lease: %w", err)
	}
	return nil
}
