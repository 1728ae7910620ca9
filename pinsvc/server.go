package pinsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Controller is the automatic-raise loop a Server runs (one leader among the
// pinds sharing an etcd). Install it with SetController before Start.
type Controller interface {
	// Run runs the controller until ctx ends (Close ends it).
	Run(ctx context.Context) error
	// RaiseStatus explains the raise of one service; used for every
	// ServiceState the Server sends. It must be safe for concurrent use.
	RaiseStatus(v *ServiceView, now time.Time) *rollpinv1.RaiseStatus
}

// defaultController, when set (by the controller's own file), builds the
// controller every new Server runs unless SetController replaces it.
var defaultController func(*Server) Controller

// Server implements rollpinv1.PinServiceServer on etcd. Create it with
// NewServer, call Start, register it on a grpc.Server, and Close it when done.
// All methods are safe for concurrent use.
type Server struct {
	rollpinv1.UnimplementedPinServiceServer

	cli     *clientv3.Client
	cfg     options
	keys    keys
	log     *slog.Logger
	metrics *metrics
	hub     hub

	ctrl    Controller
	data    map[string]*svcData // owned by load / the watch goroutine
	lease   leaseState
	contact contact
	regs    atomic.Int64 // live registration streams
	started atomic.Bool

	// beforeRegisterTxn, when set (by tests), runs between the pin read and
	// the registration transaction.
	beforeRegisterTxn func()
	// beforePinTxn, when set (by tests), runs between an operator write's
	// decision and its transaction.
	beforePinTxn func()

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
}

// NewServer returns a Server that keeps its state under the key prefix
// (WithPrefix) in the etcd reached by cli. It does not contact etcd: Start
// does. cli stays owned by the caller (Close does not close it). Every
// option has a default; see each With function.
func NewServer(cli *clientv3.Client, opts ...Option) (*Server, error) {
	if cli == nil {
		return nil, errors.New("pinsvc: nil etcd client")
	}
	cfg, err := evaluateOptions(opts)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cli:     cli,
		cfg:     cfg,
		keys:    keys{prefix: cfg.Prefix},
		log:     cfg.Logger.With("pind", cfg.Name),
		metrics: m,
		done:    make(chan struct{}),
	}
	s.hub.histSize, s.hub.maxBytes = cfg.HistorySize, cfg.HistoryBytes
	s.hub.cur.Store(&State{Services: map[string]*ServiceView{}})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if defaultController != nil {
		s.ctrl = defaultController(s)
	}
	return s, nil
}

// SetController installs c (nil: none) as the Server's controller. Call it
// before Start.
func (s *Server) SetController(c Controller) {
	if s.started.Load() {
		panic("pinsvc: SetController after Start")
	}
	s.ctrl = c
}

func (s *Server) raiseFunc() RaiseFunc {
	if s.ctrl == nil {
		return DefaultRaiseStatus
	}
	return s.ctrl.RaiseStatus
}

// Start loads every pin and instance from etcd, starts following etcd, and
// starts the controller. ctx bounds the initial load only. Start fails when
// etcd cannot be read; it may be called once.
func (s *Server) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("pinsvc: Start called twice")
	}
	rev, err := s.load(ctx)
	if err != nil {
		return fmt.Errorf("pinsvc: load state from etcd: %w", err)
	}
	s.log.Info("pind state loaded", "revision", rev, "services", len(s.hub.cur.Load().Services), "prefix", s.cfg.Prefix)
	s.initContact()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.watchLoop(s.ctx, rev)
	}()
	go func() {
		defer s.wg.Done()
		s.contactLoop()
	}()
	if s.ctrl != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.ctrl.Run(s.ctx); err != nil && s.ctx.Err() == nil {
				s.log.Error("controller stopped", "err", err)
			}
		}()
	}
	return nil
}

// Close ends every stream (with UNAVAILABLE), stops the watch and the
// controller, and revokes the registration lease (so this Server's
// instances leave their floors at once). It returns after every goroutine the
// Server started has stopped. Safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.lease.mu.Lock() // no lease goroutine starts after cancel
		s.cancel()
		s.lease.mu.Unlock()
		s.wg.Wait()
		err = s.revokeLease()
	})
	return err
}

// Snapshot returns the current state. It never blocks; the State is
// immutable.
func (s *Server) Snapshot() *State { return s.hub.cur.Load() }

// Subscribe returns a channel that receives a value (coalesced, capacity 1)
// after each change of the state, and a function that ends the
// subscription. Read Snapshot after each receive.
func (s *Server) Subscribe() (<-chan struct{}, func()) { return s.hub.subscribe(true) }

// Done is closed when Close is called.
func (s *Server) Done() <-chan struct{} { return s.done }

// waitRevision waits until the state reflects rev, for at most 5 s.
func (s *Server) waitRevision(ctx context.Context, rev int64) *State {
	if st := s.hub.cur.Load(); st.Revision >= rev {
		return st
	}
	poke, cancel := s.hub.subscribe(true)
	defer cancel()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for {
		if st := s.hub.cur.Load(); st.Revision >= rev {
			return st
		}
		select {
		case <-poke:
		case <-ctx.Done():
			return nil
		case <-t.C:
			return nil
		case <-s.done:
			return nil
		}
	}
}
