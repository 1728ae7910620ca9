package pinsvc

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// ControllerIdentity is recorded as Pin.updated_by by automatic raises.
const ControllerIdentity = "controller"

// RaiseController is the automatic-raise Controller: it raises AUTO pins to
// the floor of their live instances once the fleet has settled (see
// DecideRaise), and creates the pin of a new service at its first floor.
// Every Server runs one by default (NewServer installs it); any number of
// pinds may share an etcd: an election (concurrency.Election under
// <prefix>controller/) picks the single one that acts, the others wait to
// take over.
//
// Every raise is one etcd transaction that succeeds only when the pin is
// still at the revision the decision read, no instance of the service
// registered after the state the decision was made on, and this controller
// still leads. A lost race is not an error: the next evaluation decides
// again on fresh state. Each raise is logged with its reason and counted in
// rollpin_pind_auto_raises_total.
type RaiseController struct {
	srv      *Server
	settle   time.Duration
	ttl      time.Duration
	interval time.Duration
	name     string
	log      *slog.Logger
	metrics  *ControllerMetrics

	leader atomic.Bool
}

func init() {
	defaultController = func(s *Server) Controller { return NewRaiseController(s) }
}

// NewRaiseController returns the automatic-raise controller of srv, with
// srv's settle window (WithSettle), raise interval (WithRaiseInterval),
// election TTL (WithElectionTTL), name and logger. Its collectors are
// registered on srv's Registerer (WithRegisterer) when one is set (a
// registration failure is logged, not fatal); Metrics returns them either
// way. Install it with srv.SetController (NewServer already installs one).
func NewRaiseController(srv *Server) *RaiseController {
	cfg := srv.cfg
	c := &RaiseController{
		srv:      srv,
		settle:   cfg.Settle,
		ttl:      cfg.ElectionTTL,
		interval: cfg.RaiseInterval,
		name:     cfg.Name,
		log:      srv.log,
		metrics:  NewControllerMetrics(),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(c.metrics); err != nil {
			c.log.Warn("pinsvc: controller metrics not registered", "err", err)
		}
	}
	return c
}

// Metrics returns the controller's Prometheus collectors.
func (c *RaiseController) Metrics() *ControllerMetrics { return c.metrics }

// IsLeader reports whether this controller currently leads.
func (c *RaiseController) IsLeader() bool { return c.leader.Load() }

// RaiseStatus implements Controller: DecideRaise's status with the
// controller's settle window.
func (c *RaiseController) RaiseStatus(v *ServiceView, now time.Time) *rollpinv1.RaiseStatus {
	return DecideRaise(v, now, c.settle).Status
}

// Run implements Controller: it campaigns for leadership and, while
// leading, raises pins, until ctx ends. It then resigns (another pind takes
// over at once) and returns nil. When its etcd session is lost it
// campaigns again.
func (c *RaiseController) Run(ctx context.Context) error {
	c.run(ctx)
	return nil
}

func (c *RaiseController) run(ctx context.Context) {
	ttl := max(int((c.ttl+time.Second-1)/time.Second), 1)
	pfx := c.srv.keys.prefix + "controller/"
	retry := c.interval
	for ctx.Err() == nil {
		err := c.term(ctx, ttl, pfx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.log.Warn("pinsvc: controller election failed; retrying", "err", err, "in", retry.String())
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// term runs one session: campaign, lead until the session is lost or ctx
// ends, resign.
func (c *RaiseController) term(ctx context.Context, ttl int, pfx string) error {
	sess, err := concurrency.NewSession(c.srv.cli, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("pinsvc: controller session: %w", err)
	}
	defer sess.Close() // revokes the lease: our candidacy disappears with it
	el := concurrency.NewElection(sess, pfx)
	// A session that expires while campaigning ends the campaign too.
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	go func() {
		select {
		case <-sess.Done():
			ccancel()
		case <-cctx.Done():
		}
	}()
	// A campaign that ends with its context resigns with the etcd client's
	// own context, which etcd cut off never answers: do not wait for it
	// (it ends when etcd answers or the client closes).
	won := make(chan error, 1)
	go func() { won <- el.Campaign(cctx, c.name) }()
	select {
	case err := <-won:
		if err != nil {
			return fmt.Errorf("pinsvc: controller campaign: %w", err)
		}
	case <-cctx.Done():
		return fmt.Errorf("pinsvc: controller campaign: %w", context.Cause(cctx))
	}
	c.leader.Store(true)
	c.metrics.leader.Set(1)
	c.log.Info("pinsvc: controller leads: raising AUTO pins", "settle", c.settle.String())
	defer func() {
		c.leader.Store(false)
		c.metrics.leader.Set(0)
	}()
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		c.evaluate(ctx, el)
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := el.Resign(rctx); err != nil {
				c.log.Warn("pinsvc: controller resign failed; the lease expiry will end the term", "err", err)
			} else {
				c.log.Info("pinsvc: controller resigned")
			}
			return nil
		case <-sess.Done():
			c.log.Warn("pinsvc: controller lost its etcd session; campaigning again")
			return nil
		case <-tick.C:
		}
	}
}

// evaluate decides for every service of the current state and performs the
// raises that are due.
func (c *RaiseController) evaluate(ctx context.Context, el *concurrency.Election) {
	st := c.srv.Snapshot()
	if st == nil {
		return
	}
	now := time.Now()
	for _, name := range st.Names() {
		v := st.Service(name)
		d := DecideRaise(v, now, c.settle)
		if !d.Raise {
			continue
		}
		if err := c.raise(ctx, el, st.Revision, v, d); err != nil {
			if ctx.Err() == nil {
				c.log.Warn("pinsvc: automatic raise failed; deciding again on fresh state", "service", name, "err", err)
			}
		}
	}
}

// raise writes d.Target as the pin of v in one guarded transaction.
func (c *RaiseController) raise(ctx context.Context, el *concurrency.Election, stateRev int64, v *ServiceView, d RaiseDecision) error {
	var next *rollpinv1.Pin
	kind := "raise"
	if v.Pin == nil {
		next = &rollpinv1.Pin{Mode: rollpinv1.PinMode_PIN_MODE_AUTO}
		kind = "create"
	} else {
		next = proto.CloneOf(v.Pin)
	}
	reason := fmt.Sprintf("automatic raise from %q to the floor of %d live instances, stable for %v",
		v.PinManifest.String(), len(v.Instances), c.settle)
	if d.Create {
		reason = fmt.Sprintf("automatic creation at the floor of %d live instances, stable for %v", len(v.Instances), c.settle)
	}
	next.Manifest = d.Target.String()
	next.UpdatedBy = ControllerIdentity
	next.UpdatedAt = timestamppb.Now()
	next.Reason = reason
	pinKey := c.srv.keys.pin(v.Name)
	instPfx := c.srv.keys.instance(v.Name, "")
	ctx, cancel := context.WithTimeout(ctx, c.srv.callTimeout())
	defer cancel()
	resp, err := c.srv.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(pinKey), "=", v.PinRevision),
		clientv3.Compare(clientv3.ModRevision(instPfx), "<", stateRev+1).WithPrefix(),
		clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev()),
	).Then(clientv3.OpPut(pinKey, marshal(next))).Commit()
	if err != nil {
		return fmt.Errorf("pinsvc: write pin of %s: %w", v.Name, err)
	}
	if !resp.Succeeded {
		c.metrics.conflicts.Inc()
		c.log.Debug("pinsvc: automatic raise lost a race; deciding again", "service", v.Name)
		return nil
	}
	c.metrics.raises.WithLabelValues(v.Name, kind).Inc()
	c.metrics.total.Add(1)
	c.log.Info("pinsvc: pin raised automatically",
		"service", v.Name, "kind", kind, "from", v.PinManifest.String(), "to", next.Manifest,
		"floor", v.Floor.String(), "instances", len(v.Instances), "revision", resp.Header.Revision, "reason", reason)
	return nil
}
