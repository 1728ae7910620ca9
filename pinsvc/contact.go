package pinsvc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// contact tracks whether a Server is in touch with etcd. A Server that is
// not reports NOT_SERVING, refuses new streams and ends the open ones with
// UNAVAILABLE, so that clients fail over to another pind and register there
// while their old registrations still live on the lost lease: a pind cut
// off from etcd never keeps instances attached to it while their keys
// expire behind their backs.
//
// Contact is lost when any of these holds:
//
//   - the registration lease's keep-alives have not been answered for half
//     the lease TTL (well before the lease can expire in etcd);
//   - the periodic probe (a linearizable read, every TTL/4) has not
//     succeeded for a TTL;
//   - the watch has been broken and not re-established for a TTL.
//
// It is regained when, after the loss, a probe succeeds and the watch has
// been re-established.
type contact struct {
	mu       sync.Mutex
	ok       bool
	lost     event // fires when contact is lost; a fresh one while ok
	lostAt   time.Time
	reporter []*health.Server
	rewatch  context.CancelFunc // ends the current watch

	lastProbe   atomic.Int64 // unix nanos of the last successful probe
	watchUp     atomic.Int64 // unix nanos the current watch was created, 0 while down
	watchDownAt atomic.Int64 // unix nanos the watch went down, 0 while up
}

// errNoContact is the status of streams a pind without etcd contact ends or
// refuses.
var errNoContact = status.Error(codes.Unavailable,
	"pind lost contact with etcd: reconnect to another pind (register there); this one reports NOT_SERVING until etcd answers again")

// callTimeout bounds every etcd call a Server makes on behalf of a request,
// and its shutdown calls.
func (s *Server) callTimeout() time.Duration { return max(s.cfg.LeaseTTL/2, 5*time.Second) }

// staleAfter is how long the registration lease's keep-alives may go
// unanswered before the Server declares contact lost: half the TTL, so that
// its instances have the other half to register through another pind
// before their keys expire.
func (s *Server) staleAfter() time.Duration { return s.cfg.LeaseTTL / 2 }

// lostContact returns a context done when contact with etcd is lost
// (already done when it is lost now).
func (s *Server) lostContact() context.Context {
	s.contact.mu.Lock()
	defer s.contact.mu.Unlock()
	if s.contact.lost.Context == nil {
		return context.Background() // not started: nothing to lose yet
	}
	return s.contact.lost.Context
}

// event is a one-shot signal shared by many streams: a context done when it
// fires. A stream selects on Done, or registers a callback with
// context.AfterFunc, which costs no goroutine while the event has not fired
// (thousands of Register streams wait on the same lease and contact).
type event struct {
	context.Context
	fire context.CancelFunc
}

func newEvent() event {
	ctx, cancel := context.WithCancel(context.Background())
	return event{ctx, cancel}
}

// ReportHealth makes hs report the Server's health, for the overall server
// ("") and for rollpin.v1.PinService: SERVING while the Server is in touch
// with etcd, NOT_SERVING while it is not (then it also ends its streams
// with UNAVAILABLE, so clients fail over) and after Close. Call it after
// Start, once per health server.
func (s *Server) ReportHealth(hs *health.Server) {
	s.contact.mu.Lock()
	defer s.contact.mu.Unlock()
	s.contact.reporter = append(s.contact.reporter, hs)
	setHealth(hs, s.contact.ok && s.ctx.Err() == nil)
}

func setHealth(hs *health.Server, serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	hs.SetServingStatus("", st)
	hs.SetServingStatus(rollpinv1.PinService_ServiceDesc.ServiceName, st)
}

// initContact marks the Server in contact (Start has just read etcd).
func (s *Server) initContact() {
	now := time.Now().UnixNano()
	s.contact.lastProbe.Store(now)
	s.contact.watchDownAt.Store(now)
	s.contact.mu.Lock()
	s.contact.ok = true
	s.contact.lost = newEvent()
	s.contact.mu.Unlock()
}

// watchCreated and watchBroken are called by the watch loop.
func (s *Server) watchCreated(cancel context.CancelFunc) {
	s.contact.mu.Lock()
	s.contact.rewatch = cancel
	s.contact.mu.Unlock()
	s.contact.watchDownAt.Store(0)
	s.contact.watchUp.Store(time.Now().UnixNano())
}

func (s *Server) watchBroken() {
	s.contact.watchUp.Store(0)
	s.contact.watchDownAt.CompareAndSwap(0, time.Now().UnixNano())
}

// contactLoop probes etcd and checks the evidence of contact until the
// Server closes.
func (s *Server) contactLoop() {
	probeEvery := max(s.cfg.LeaseTTL/4, 100*time.Millisecond)
	tick := time.NewTicker(max(s.cfg.LeaseTTL/16, 50*time.Millisecond))
	defer tick.Stop()
	var probing atomic.Bool
	var lastStart time.Time
	for {
		select {
		case <-s.ctx.Done():
			s.contact.mu.Lock()
			for _, hs := range s.contact.reporter {
				setHealth(hs, false)
			}
			s.contact.mu.Unlock()
			return
		case <-tick.C:
		}
		now := time.Now()
		if now.Sub(lastStart) >= probeEvery && probing.CompareAndSwap(false, true) {
			lastStart = now
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer probing.Store(false)
				ctx, cancel := context.WithTimeout(s.ctx, s.staleAfter())
				defer cancel()
				if _, err := s.cli.Get(ctx, s.keys.pins(), clientv3.WithCountOnly()); err == nil {
					s.contact.lastProbe.Store(time.Now().UnixNano())
				}
			}()
		}
		s.checkContact(now)
	}
}

// checkContact declares contact lost or regained from the evidence.
func (s *Server) checkContact(now time.Time) {
	stale, ttl := s.staleAfter(), s.cfg.LeaseTTL
	why := ""
	switch {
	case s.leaseSilentFor(now) > stale:
		why = "etcd does not answer the registration lease's keep-alives"
	case now.Sub(time.Unix(0, s.contact.lastProbe.Load())) > ttl:
		why = "etcd does not answer reads"
	case s.contact.watchDownAt.Load() != 0 && now.Sub(time.Unix(0, s.contact.watchDownAt.Load())) > ttl:
		why = "the etcd watch is broken"
	}
	s.contact.mu.Lock()
	defer s.contact.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	switch {
	case s.contact.ok && why != "":
		s.contact.ok = false
		s.contact.lostAt = now
		s.contact.lost.fire()
		for _, hs := range s.contact.reporter {
			setHealth(hs, false)
		}
		if s.contact.rewatch != nil {
			s.contact.rewatch() // watch afresh once etcd answers
		}
		s.abandonLease()
		s.log.Error("pind lost contact with etcd: NOT_SERVING, streams end so that clients fail over", "reason", why, "stale_after", stale)
	case !s.contact.ok && why == "" &&
		s.contact.lastProbe.Load() > s.contact.lostAt.UnixNano() &&
		s.contact.watchUp.Load() > s.contact.lostAt.UnixNano():
		s.contact.ok = true
		s.contact.lost = newEvent()
		for _, hs := range s.contact.reporter {
			setHealth(hs, true)
		}
		s.log.Info("pind back in contact with etcd: SERVING", "after", now.Sub(s.contact.lostAt).Round(time.Millisecond))
	}
}
