package pinclient

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/bearer"
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
// A Client lives from Start until Close; no context bounds its life.
// Cap is one atomic load and one map lookup: no lock, no allocation.
type Client struct {
	o         options
	endpoints []string
	conns     []*grpc.ClientConn
	startedAt time.Time
	// claim is this client's secret for its registration (RegisterRequest
	// claim): failing over from a pind cut off from etcd, it takes its own
	// keys over instead of waiting for their lease to expire.
	claim [16]byte

	snap atomic.Pointer[Snapshot]

	syncOnce    sync.Once
	synced      chan struct{} // closed at the first snapshot from pind
	refusedOnce sync.Once
	refused     chan struct{} // closed at the first refusal (Err set)
	closing     chan struct{} // closed by Close

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// save is the snapshot file writer; saveCh (capacity 1) tells it a
	// newer snapshot waits to be written.
	save   func(path string, s *Snapshot) error
	saveCh chan struct{}

	mu      sync.Mutex
	err     error
	running bool
	closed  bool
}

// NewClient returns a Client for the pind endpoints (gRPC targets such as
// "host:port", "dns:///pind.example:7070" or "unix:///run/pind.sock"). It
// does not connect: call Start.
//
// Transport credentials are an explicit choice: NewClient fails with
// ErrNoCredentials unless WithTransportCredentials or WithInsecure is
// given, and with ErrInsecureToken when a token would travel in plaintext. It also fails when no endpoint is given, a target cannot be
// parsed, or a registration lacks its ID or services.
func NewClient(endpoints []string, opts ...Option) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("pinclient: NewClient: no pind endpoint given (pass pind's address, e.g. 127.0.0.1:7070)")
	}
	o := evaluateOptions(opts)
	if o.creds == nil {
		return nil, ErrNoCredentials
	}
	plaintext := o.creds.Info().SecurityProtocol == "insecure"
	if o.token != "" && plaintext && !o.tokenPlain {
		return nil, ErrInsecureToken
	}
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
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(o.creds)}, o.dialOpts...)
	if o.token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer.Credentials(o.token, !o.tokenPlain)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		o:         o,
		endpoints: slices.Clone(endpoints),
		startedAt: time.Now(),
		synced:    make(chan struct{}),
		refused:   make(chan struct{}),
		closing:   make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
		save:      writeSnapshotFile,
		saveCh:    make(chan struct{}, 1),
	}
	if _, err := rand.Read(c.claim[:]); err != nil {
		cancel()
		return nil, fmt.Errorf("pinclient: registration claim: %w", err)
	}
	for _, ep := range endpoints {
		cc, err := grpc.NewClient(ep, dial...)
		if err != nil {
			cancel()
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
// registered or the pins from being followed — a *RegistrationError, or a
// WatchPins refusal — or nil. A fencing or taken-ID refusal returns to nil
// once a registration succeeds; the others stay.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Start loads the snapshot file (if configured and present) and starts the
// client's goroutines, which run until Close. Start returns
// ErrAlreadyStarted when called twice and ErrClosed after Close.
func (c *Client) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.running {
		return ErrAlreadyStarted
	}
	c.running = true
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
		c.wg.Add(1)
		go c.saveLoop()
	}
	c.wg.Add(1)
	go c.run()
	return nil
}

// Close stops the stream (deregistering the instance), writes the last
// snapshot to the snapshot file, and waits for the client's goroutines to
// end. The last snapshot stays readable through Cap. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.closing)
	c.cancel()
	c.wg.Wait()
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
// pind, pind refused it (see Err), ctx is done, or the client is closed. It
// is the only call of a Client bounded by a context: ctx ending returns
// ctx.Err() and leaves the client running. It returns nil once synced,
// the refusal (a *RegistrationError, wrapping ErrFenced when the instance
// is below the pin), ctx.Err(), or ErrClosed.
func (c *Client) WaitForSync(ctx context.Context) error {
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	select {
	case <-c.refused:
		return c.Err()
	case <-c.synced:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return ErrClosed
	}
}
