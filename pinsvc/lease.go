package pinsvc

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseState is the one etcd lease that holds every registration of a
// Server: keep-alives cost O(1) whatever the number of instances.
type leaseState struct {
	mu   sync.Mutex
	id   clientv3.LeaseID
	lost chan struct{} // closed (under mu, by whoever forgets id) when id is lost
}

// currentLease returns the Server's lease, granting it (and starting its
// keep-alive) when there is none, and a channel closed when it is lost.
func (s *Server) currentLease(ctx context.Context) (clientv3.LeaseID, <-chan struct{}, error) {
	s.lease.mu.Lock()
	defer s.lease.mu.Unlock()
	if s.lease.id != 0 {
		return s.lease.id, s.lease.lost, nil
	}
	if s.ctx.Err() != nil {
		return 0, nil, ErrClosed
	}
	ttl := int64((s.cfg.LeaseTTL + time.Second - 1) / time.Second)
	g, err := s.cli.Grant(ctx, ttl)
	if err != nil {
		return 0, nil, fmt.Errorf("pinsvc: grant registration lease: %w", err)
	}
	ka, err := s.cli.KeepAlive(s.ctx, g.ID)
	if err != nil {
		return 0, nil, fmt.Errorf("pinsvc: keep registration lease alive: %w", err)
	}
	lost := make(chan struct{})
	s.lease.id, s.lease.lost = g.ID, lost
	s.metrics.leases(1)
	s.log.Info("registration lease granted", "lease", fmt.Sprintf("%x", int64(g.ID)), "ttl", (time.Duration(ttl) * time.Second).String())
	id := g.ID
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for range ka {
		}
		s.lease.mu.Lock()
		mine := s.lease.id == id
		if mine {
			s.lease.id, s.lease.lost = 0, nil
			s.metrics.leases(-1)
			close(lost)
		}
		s.lease.mu.Unlock()
		if mine && s.ctx.Err() == nil {
			s.log.Warn("registration lease lost: registrations move to a new lease", "lease", fmt.Sprintf("%x", int64(id)))
		}
	}()
	return g.ID, lost, nil
}

// revokeLease revokes the lease (deleting every registration key at once).
func (s *Server) revokeLease() error {
	s.lease.mu.Lock()
	id := s.lease.id
	s.lease.id = 0
	s.lease.mu.Unlock()
	if id == 0 {
		return nil
	}
	s.metrics.leases(-1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := s.cli.Revoke(ctx, id); err != nil {
		return fmt.Errorf("pinsvc: revoke registration lease: %w", err)
	}
	return nil
}
