package pinclient

import (
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/rollpin/rollpin/backport"
)

// Default tunables of a Client.
const (
	// DefaultBackoffBase is the first delay before reconnecting to pind.
	DefaultBackoffBase = 200 * time.Millisecond
	// DefaultBackoffMax caps the delay between reconnection attempts.
	DefaultBackoffMax = 10 * time.Second
)

// Registration describes the instance a serving process announces to pind.
// A Client built WithRegistration holds a Register stream instead of a
// WatchPins stream, and the instance stays live while that stream is open.
type Registration struct {
	// ID identifies the instance uniquely among the instances of its
	// services (host:port, pod name, ...). Required.
	ID string
	// Services are the full names of the gRPC services the process serves;
	// ServicesOf derives them from a *grpc.Server. Required.
	Services []string
	// Manifest is the instance's own manifest. The zero value means
	// ManifestFor(Services): this binary's manifest restricted to the tracks
	// reachable from the services.
	Manifest backport.Manifest
	// Build is a free-form build identifier (version, commit).
	Build string
	// Address is where the instance serves, if known.
	Address string
}

// Option configures a Client.
type Option func(*options)

type options struct {
	reg         *Registration
	logger      *slog.Logger
	backoffBase time.Duration
	backoffMax  time.Duration
	dialOpts    []grpc.DialOption
	creds       credentials.TransportCredentials
	token       string
	snapFile    string
	onUpdate    func(*Snapshot)
	onError     func(error)
}

func defaultOptions() options {
	return options{
		logger:      slog.Default(),
		backoffBase: DefaultBackoffBase,
		backoffMax:  DefaultBackoffMax,
	}
}

func evaluateOptions(opts []Option) options {
	o := defaultOptions()
	for _, fn := range opts {
		fn(&o)
	}
	if o.backoffBase <= 0 {
		o.backoffBase = DefaultBackoffBase
	}
	if o.backoffMax < o.backoffBase {
		o.backoffMax = o.backoffBase
	}
	return o
}

// WithRegistration makes the Client register the process as a live instance
// (a Register stream) instead of only watching pins.
func WithRegistration(r Registration) Option {
	return func(o *options) {
		rr := r
		rr.Services = append([]string(nil), r.Services...)
		o.reg = &rr
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithBackoff sets the reconnection backoff: the first delay is base, each
// failed attempt doubles it up to max, and every delay is jittered to a
// random value between half and all of it. Defaults: DefaultBackoffBase and
// DefaultBackoffMax. The delay resets once a stream delivers an update.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) { o.backoffBase, o.backoffMax = base, max }
}

// WithDialOptions adds gRPC dial options used for every pind endpoint
// (keepalive, interceptors, a custom dialer...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// WithTransportCredentials sets the transport credentials for pind (TLS or
// mTLS). Without it the connection is plaintext.
func WithTransportCredentials(c credentials.TransportCredentials) Option {
	return func(o *options) { o.creds = c }
}

// WithToken sends "authorization: Bearer <token>" on every call to pind.
func WithToken(token string) Option {
	return func(o *options) { o.token = token }
}

// WithSnapshotFile persists the last snapshot received from pind to path
// (written atomically after every update) and loads it at Start, so that a
// process restarted while pind is unreachable caps its calls with the last
// known pins instead of none.
func WithSnapshotFile(path string) Option {
	return func(o *options) { o.snapFile = path }
}

// WithOnUpdate calls fn, from the Client's stream goroutine and one call at
// a time, after every update has been applied. fn must not block for long:
// the next update waits for it.
func WithOnUpdate(fn func(*Snapshot)) Option {
	return func(o *options) { o.onUpdate = fn }
}

// WithOnError calls fn with every error that needs the caller's attention:
// a fenced registration (wrapping ErrFenced) or a request pind rejects as
// invalid or unauthorized. Transient connection errors are only logged.
func WithOnError(fn func(error)) Option {
	return func(o *options) { o.onError = fn }
}
