package pinclient

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Sentinel errors of the Client.
var (
	// ErrClientClosed is returned by WaitForSync after Close.
	ErrClientClosed = errors.New("pinclient: client closed")
	// ErrAlreadyStarted is returned by a second call to Start.
	ErrAlreadyStarted = errors.New("pinclient: client already started")
	// ErrFenced is wrapped by the error of a registration that pind refused
	// because the instance is below the pin (FAILED_PRECONDITION).
	ErrFenced = errors.New("pinclient: instance is below the pin")
)

// Client keeps the pins of every service up to date from pind and
// implements interceptor.PinSource.
//
// It holds one stream to one pind endpoint at a time: Register when built
// WithRegistration (the process is then a live instance for as long as the
// stream is open), WatchPins otherwise. When the stream breaks it reconnects
// with exponential backoff and jitter, trying the endpoints in turn, and
// resumes from the last revision it received; meanwhile it keeps serving the
// last known pins.
//
// Cap is one atomic load and one map lookup: no lock, no allocation.
type Client struct {
	o         options
	endpoints []string
	conns     []*grpc.ClientConn
	started   time.Time

	snap atomic.Pointer[Snapshot]

	syncOnce  sync.Once
	synced    chan struct{}
	fenceOnce sync.Once
	fencedCh  chan struct{}

	mu      sync.Mutex
	err     error
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
	closed  bool
}

// NewClient returns a Client for the pind endpoints (gRPC targets such as
// "host:port" or "dns:///pind.example:7070"). It does not connect: call
// Start. It fails when no endpoint is given or a target cannot be parsed.
func NewClient(endpoints []string, opts ...Option) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("pinclient: NewClient: no pind endpoint given")
	}
	o := evaluateOptions(opts)
	if o.reg != nil {
		if o.reg.ID == "" {
			return nil, errors.New("pinclient: NewClient: registration without an instance ID")
		}
		if len(o.reg.Services) == 0 {
			return nil, errors.New("pinclient: NewClient: registration without services (use ServicesOf(grpcServer))")
		}
		if o.reg.Manifest.IsEmpty() {
			o.reg.Manifest = ManifestFor(o.reg.Services)
		}
	}
	dial := []grpc.DialOption{}
	if o.creds != nil {
		dial = append(dial, grpc.WithTransportCredentials(o.creds))
	} else {
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	dial = append(dial, o.dialOpts...)
	c := &Client{
		o:         o,
		endpoints: append([]string(nil), endpoints...),
		started:   time.Now(),
		synced:    make(chan struct{}),
		fencedCh:  make(chan struct{}),
	}
	for _, ep := range endpoints {
		cc, err := grpc.NewClient(ep, dial...)
		if err != nil {
			c.closeConns()
			return nil, fmt.Errorf("pinclient: pind endpoint %q: %w", ep, err)
		}
		c.conns = append(c.conns, cc)
	}
	return c, nil
}

// Cap returns the effective cap of a gRPC service (full name):
// Min(pin, floor). ok is false when the service has no pin and no live
// instance, or before any snapshot arrived. Safe for concurrent use.
func (c *Client) Cap(service string) (backport.Manifest, bool) {
	s := c.snap.Load()
	if s == nil {
		return backport.Manifest{}, false
	}
	m, ok := s.caps[service]
	return m, ok
}

// Snapshot returns the current snapshot, or nil before the first one (from
// pind or from the snapshot file).
func (c *Client) Snapshot() *Snapshot { return c.snap.Load() }

// Err returns the error that currently keeps the instance from being
// registered (wrapping ErrFenced, or an INVALID_ARGUMENT / PERMISSION_DENIED
// / UNAUTHENTICATED status from pind), or nil. It returns to nil once a
// registration succeeds.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Start loads the snapshot file (if configured and present) and starts the
// stream goroutine. The goroutine ends when ctx is done or Close is called.
// Start returns ErrAlreadyStarted when called twice, and an error when the
// client is closed.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClientClosed
	}
	if c.running {
		return ErrAlreadyStarted
	}
	if c.o.snapFile != "" {
		s, err := readSnapshotFile(c.o.snapFile, c.o.logger)
		switch {
		case err == nil:
			c.snap.CompareAndSwap(nil, s)
			c.o.logger.Info("pinclient: loaded pins from the snapshot file until pind answers",
				"file", c.o.snapFile, "revision", s.Revision(), "services", len(s.states))
		case errors.Is(err, fs.ErrNotExist):
		default:
			c.o.logger.Warn("pinclient: snapshot file ignored", "err", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	c.running, c.cancel, c.done = true, cancel, make(chan struct{})
	go c.run(ctx, c.done)
	return nil
}

// Close stops the stream (deregistering the instance) and waits for the
// client's goroutine to end. The last snapshot stays readable through Cap.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return c.closeConns()
}

func (c *Client) closeConns() error {
	var errs []error
	for _, cc := range c.conns {
		errs = append(errs, cc.Close())
	}
	return errors.Join(errs...)
}

// WaitForSync blocks until the client has received its first snapshot from
// pind, the registration was fenced, ctx is done, or the client is closed.
// It returns nil once synced, the fencing error (wrapping ErrFenced) when
// the instance was refused, ctx.Err(), or ErrClientClosed.
func (c *Client) WaitForSync(ctx context.Context) error {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done == nil {
		done = make(chan struct{}) // not started: only ctx ends the wait
	}
	select {
	case <-c.fencedCh:
		return c.Err()
	case <-c.synced:
		if err := c.Err(); errors.Is(err, ErrFenced) {
			return err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrClientClosed
	}
}

// errReadmit ends a watch stream so that a fenced instance tries to register
// again: the pins it was refused by have been lowered.
var errReadmit = errors.New("pinclient: pins lowered, registering again")

func (c *Client) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	attempt, ep := 0, 0
	fenced := false
	for {
		progressed, err := c.stream(ctx, ep, &fenced)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			attempt = 0
		}
		if errors.Is(err, errReadmit) {
			c.o.logger.Info("pinclient: pins no longer fence this instance; registering again", "id", c.o.reg.ID)
		} else {
			c.o.logger.Warn("pinclient: pind stream ended; reconnecting", "endpoint", c.endpoints[ep], "err", err)
			ep = (ep + 1) % len(c.conns)
		}
		d := c.backoff(attempt)
		attempt++
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff returns the delay before attempt n (0-based): base·2ⁿ capped at
// max, jittered to a uniformly random value in [d/2, d].
func (c *Client) backoff(n int) time.Duration {
	d := c.o.backoffBase
	for i := 0; i < n && d < c.o.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.o.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// updateStream is what Register and WatchPins streams have in common.
type updateStream interface {
	recv() (*rollpinv1.PinUpdate, error)
}

type watchStream struct {
	grpc.ServerStreamingClient[rollpinv1.WatchPinsResponse]
}

func (w watchStream) recv() (*rollpinv1.PinUpdate, error) {
	r, err := w.Recv()
	return r.GetUpdate(), err
}

type registerStream struct {
	grpc.ServerStreamingClient[rollpinv1.RegisterResponse]
}

func (w registerStream) recv() (*rollpinv1.PinUpdate, error) {
	r, err := w.Recv()
	return r.GetUpdate(), err
}

// stream runs one stream on endpoint ep until it fails. progressed reports
// whether it delivered at least one update.
func (c *Client) stream(ctx context.Context, ep int, fenced *bool) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.o.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.o.token)
	}
	pc := rollpinv1.NewPinServiceClient(c.conns[ep])
	var start int64
	if s := c.snap.Load(); s != nil && s.synced {
		start = s.rev
	}
	register := c.o.reg != nil && !*fenced
	var st updateStream
	if register {
		r := c.o.reg
		s, err := pc.Register(ctx, &rollpinv1.RegisterRequest{
			Instance: &rollpinv1.Instance{
				Id:        r.ID,
				Manifest:  r.Manifest.String(),
				Build:     r.Build,
				Address:   r.Address,
				StartedAt: timestamppb.New(c.started),
			},
			Services:      r.Services,
			StartRevision: start,
		})
		if err != nil {
			return false, err
		}
		st = registerStream{s}
	} else {
		s, err := pc.WatchPins(ctx, &rollpinv1.WatchPinsRequest{StartRevision: start})
		if err != nil {
			return false, err
		}
		st = watchStream{s}
	}
	// A reader goroutine feeds the updates; this loop applies every update
	// already received as one batch, so that a burst (a fleet registering)
	// costs one snapshot copy, not one per update.
	ups := make(chan *rollpinv1.PinUpdate, maxBatch)
	errc := make(chan error, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(ups)
		for {
			u, err := st.recv()
			if err != nil {
				errc <- err
				return
			}
			if u == nil {
				continue
			}
			select {
			case ups <- u:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-readerDone
	}()
	batch := make([]*rollpinv1.PinUpdate, 0, maxBatch)
	for {
		u, ok := <-ups
		if !ok {
			err := <-errc
			if register && !progressed {
				c.registrationFailed(err, fenced)
			}
			return progressed, err
		}
		batch = append(batch[:0], u)
	drain:
		for len(batch) < maxBatch {
			select {
			case u, ok := <-ups:
				if !ok {
					break drain
				}
				batch = append(batch, u)
			default:
				break drain
			}
		}
		if !progressed && register {
			c.setErr(nil)
		}
		progressed = true
		c.applyUpdates(batch)
		if *fenced && c.o.reg != nil && c.admissible() {
			*fenced = false
			return progressed, errReadmit
		}
	}
}

// maxBatch bounds how many received updates are applied as one.
const maxBatch = 256

// registrationFailed classifies an error that ended a Register stream before
// its first update. Errors that retrying cannot fix are surfaced.
func (c *Client) registrationFailed(err error, fenced *bool) {
	switch status.Code(err) {
	case codes.FailedPrecondition:
		rerr := &RegistrationError{ID: c.o.reg.ID, Err: err, Fenced: true}
		*fenced = true
		c.setErr(rerr)
		c.o.logger.Error("pinclient: pind refused the registration; watching pins until they allow it",
			"id", c.o.reg.ID, "manifest", c.o.reg.Manifest.String(), "err", status.Convert(err).Message())
		c.fenceOnce.Do(func() { close(c.fencedCh) })
		if c.o.onError != nil {
			c.o.onError(rerr)
		}
	case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated:
		rerr := &RegistrationError{ID: c.o.reg.ID, Err: err}
		c.setErr(rerr)
		if c.o.onError != nil {
			c.o.onError(rerr)
		}
	}
}

// RegistrationError reports that pind refused to register an instance. It
// unwraps to the gRPC status error and, when Fenced, to ErrFenced too.
type RegistrationError struct {
	// ID is the instance id.
	ID string
	// Err is the status error pind answered.
	Err error
	// Fenced is true when the instance is below a pin (FAILED_PRECONDITION).
	Fenced bool
}

// Error returns pind's explanation, which names the pin and the command that
// would lower it when Fenced.
func (e *RegistrationError) Error() string {
	return "pinclient: pind refused to register instance " + e.ID + ": " + status.Convert(e.Err).Message()
}

// Unwrap returns the status error and, when Fenced, ErrFenced.
func (e *RegistrationError) Unwrap() []error {
	if e.Fenced {
		return []error{ErrFenced, e.Err}
	}
	return []error{e.Err}
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// admissible reports whether the current pins would let the registered
// manifest in: it covers the pin of every service it serves.
func (c *Client) admissible() bool {
	s := c.snap.Load()
	if s == nil || !s.synced {
		return false
	}
	for _, svc := range c.o.reg.Services {
		st, ok := s.states[svc]
		if !ok || st.GetPin() == nil {
			continue
		}
		pin, err := backport.ParseManifest(st.GetPin().GetManifest())
		if err != nil || !c.o.reg.Manifest.Covers(pin) {
			return false
		}
	}
	return true
}

func (c *Client) applyUpdates(us []*rollpinv1.PinUpdate) {
	next := c.snap.Load()
	if next != nil && !next.synced {
		next = nil // a snapshot from the file is replaced, never merged
	}
	next = next.apply(us, c.o.logger)
	c.snap.Store(next)
	c.syncOnce.Do(func() { close(c.synced) })
	if c.o.snapFile != "" {
		if err := writeSnapshotFile(c.o.snapFile, next); err != nil {
			c.o.logger.Warn("pinclient: could not persist the pin snapshot", "err", err)
		}
	}
	if c.o.onUpdate != nil {
		c.o.onUpdate(next)
	}
}
