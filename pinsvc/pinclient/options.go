package pinclient

import (
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Default tunables of a Client.
const (
	// DefaultBackoffBase is the first delay before reconnecting to pind
	// after an attempt failed.
	DefaultBackoffBase = 200 * time.Millisecond
	// DefaultBackoffMax caps the delay between reconnection attempts. It is
	// a fifth of pind's default lease TTL (10s): a client tries several
	// times within one TTL, so that a registration lost to an outage is
	// back long before a settle window ends.
	DefaultBackoffMax = 2 * time.Second
	// DefaultProbeInterval is how often a Client asks the pind its stream is
	// on whether it is alive (the gRPC health service), and
	// DefaultProbeTimeout how long it waits for the answer. A pind whose
	// host vanished sends no TCP reset: without the probe a stream would
	// wait for the operating system's TCP timeout (many minutes) while the
	// dead pind's lease, and the instance's registration on it, expire in
	// etcd. With them, a silent pind is left within 4s, well inside pind's
	// default lease TTL (10s), and the instance registers through another
	// pind before it could leave the floor. (gRPC's own keepalive cannot
	// ping more often than every 10s.)
	DefaultProbeInterval = 2 * time.Second
	DefaultProbeTimeout  = 2 * time.Second
	// SnapshotFileInterval is the shortest time between two writes of the
	// snapshot file (WithSnapshotFile): the updates of a burst are written
	// once.
	SnapshotFileInterval = time.Second
)

// Option configures a Client; see NewClient.
type Option func(*options)

type options struct {
	reg         *Registration
	logger      *slog.Logger
	backoffBase time.Duration
	backoffMax  time.Duration
	dialOpts    []grpc.DialOption
	creds       credentials.TransportCredentials
	token       string
	tokenPlain  bool // WithInsecureToken
	snapFile    string
	onUpdate    func(*Snapshot)
	onError     func(error)
	metrics     Reporter
	probeEvery  time.Duration // 0: no probe
	probeWait   time.Duration
}

func defaultOptions() options {
	return options{
		logger:      slog.Default(),
		backoffBase: DefaultBackoffBase,
		backoffMax:  DefaultBackoffMax,
		metrics:     nopReporter{},
		probeEvery:  DefaultProbeInterval,
		probeWait:   DefaultProbeTimeout,
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
// (a Register stream) instead of only watching pins (a WatchPins stream,
// the default).
func WithRegistration(r Registration) Option {
	return func(o *options) {
		rr := r
		rr.Services = append([]string(nil), r.Services...)
		o.reg = &rr
	}
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithBackoff sets the reconnection backoff: the first delay is base, each
// failed attempt doubles it up to max, and every delay is jittered to a
// random value between half and all of it. Defaults: DefaultBackoffBase
// (200ms) and DefaultBackoffMax (2s). Keep max well under pind's lease TTL
// (--lease-ttl, 10s by default) so that a registered instance whose stream
// broke is back in the floor within a fraction of it. The
// delay resets once a stream delivers an update; after such a stream ends,
// every endpoint is tried once right away (jittered by up to min(base,
// 100ms)) before the backoff starts.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) { o.backoffBase, o.backoffMax = base, max }
}

// WithDialOptions adds gRPC dial options used for every pind endpoint
// (keepalive, interceptors, a custom dialer...). Transport credentials go
// through WithTransportCredentials or WithInsecure. Default: none.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// WithTransportCredentials sets the transport credentials for pind (TLS,
// mTLS). NewClient requires either this or WithInsecure.
func WithTransportCredentials(c credentials.TransportCredentials) Option {
	return func(o *options) { o.creds = c }
}

// WithInsecure talks to pind in plaintext: for a pind on loopback or a unix
// socket, and for tests. NewClient requires either this or
// WithTransportCredentials; there is no silent plaintext default.
func WithInsecure() Option {
	return func(o *options) { o.creds = insecure.NewCredentials() }
}

// WithToken sends "authorization: Bearer <token>" on every call to pind
// (pind's --register-token), as per-RPC credentials that gRPC sends only
// over a secure transport: with WithInsecure, NewClient fails with
// ErrInsecureToken unless WithInsecureToken says plaintext is meant.
// Default: no token.
func WithToken(token string) Option {
	return func(o *options) { o.token = token }
}

// WithInsecureToken lets WithToken's token travel over a plaintext
// connection: for a pind on loopback or a unix socket, where nothing on the
// network can read it. Default: a token needs transport security.
func WithInsecureToken() Option {
	return func(o *options) { o.tokenPlain = true }
}

// WithLivenessProbe sets how often the Client checks, with the gRPC health
// service, that the pind its stream is on still answers, and how long it
// waits for the answer; a check that fails or is not answered in time ends
// the stream, and the Client moves to another pind. every <= 0 turns the
// probe off (a stream then waits for TCP to notice a dead host). A pind
// without the health service is not probed. Default: DefaultProbeInterval,
// DefaultProbeTimeout.
func WithLivenessProbe(every, timeout time.Duration) Option {
	return func(o *options) {
		o.probeEvery = max(every, 0)
		if timeout > 0 {
			o.probeWait = timeout
		}
	}
}

// WithSnapshotFile persists the last snapshot received from pind to path
// and loads it at Start, so that a process restarted while pind is
// unreachable caps its calls with the last known pins instead of none.
// Writes are atomic (temporary file, fsync, rename), happen on a goroutine
// of their own — never on the stream's — at most once per
// SnapshotFileInterval with the latest snapshot, and once more at Close.
// Default: no file.
func WithSnapshotFile(path string) Option {
	return func(o *options) { o.snapFile = path }
}

// WithOnUpdate calls fn, from the Client's stream goroutine and one call at
// a time, after every batch of updates has been applied. fn must not block
// for long: the next update waits for it. Default: none.
func WithOnUpdate(fn func(*Snapshot)) Option {
	return func(o *options) { o.onUpdate = fn }
}

// WithOnError calls fn with every error that needs the caller's attention:
// a refused registration (a *RegistrationError) or a WatchPins stream pind
// refuses for good. Transient connection errors are only logged. Default:
// none.
func WithOnError(fn func(error)) Option {
	return func(o *options) { o.onError = fn }
}

// WithMetrics makes the Client report what it does to r (for Prometheus:
// package pinclientprom). Default: nothing is reported.
func WithMetrics(r Reporter) Option {
	return func(o *options) {
		if r != nil {
			o.metrics = r
		}
	}
}
