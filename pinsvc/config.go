package pinsvc

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the Server's options.
const (
	// DefaultPrefix is the etcd key prefix of every key.
	DefaultPrefix = "/rollpin/"
	// DefaultSettle is the auto-raise settle window: how long the live
	// instances and the pin must stay unchanged before the controller
	// raises.
	DefaultSettle = 60 * time.Second
	// DefaultLeaseTTL is the TTL of the registration lease and of the
	// controller's election session.
	DefaultLeaseTTL = 10 * time.Second
	// DefaultHistorySize is how many updates are kept to resume watchers.
	DefaultHistorySize = 1024
	// DefaultHistoryBytes bounds the estimated encoded size of that history
	// (64 MiB).
	DefaultHistoryBytes = 64 << 20
)

// Option configures a Server (NewServer).
type Option func(*options)

// options are a Server's settings; each field is set by one Option.
type options struct {
	Prefix             string
	Settle             time.Duration
	LeaseTTL           time.Duration
	AdminToken         string
	WriterIdentities   []string
	RegisterToken      string
	RegisterIdentities map[string][]string
	Name               string
	Logger             *slog.Logger
	HistorySize        int
	HistoryBytes       int
	Registerer         prometheus.Registerer
	RaiseInterval      time.Duration
	ElectionTTL        time.Duration
	AuditMaxEntries    int
	AuditMaxAge        time.Duration
}

// WithPrefix sets the etcd key prefix of every key (default DefaultPrefix,
// "/rollpin/"). A missing trailing '/' is added.
func WithPrefix(prefix string) Option { return func(o *options) { o.Prefix = prefix } }

// WithSettle sets the auto-raise settle window used by the controller
// (default DefaultSettle, 60s).
func WithSettle(d time.Duration) Option { return func(o *options) { o.Settle = d } }

// WithLeaseTTL sets the TTL of the etcd lease that holds the Server's
// registrations (default DefaultLeaseTTL, 10s; at least 1s). An instance
// whose pind dies drops out of the floor within about this long.
func WithLeaseTTL(d time.Duration) Option { return func(o *options) { o.LeaseTTL = d } }

// WithAdminToken lets a caller write (SetPin, Hold, Release, SetMode) and
// register with the metadata "authorization: Bearer <token>" (default: no
// token). See the package documentation, Access control.
func WithAdminToken(token string) Option { return func(o *options) { o.AdminToken = token } }

// WithWriterIdentities lets a caller write and register with a verified
// client certificate whose subject CN, a DNS SAN or a URI SAN is in ids
// (default: none).
//
// With neither an admin token nor writer identities, writes are open to
// every caller (the single-machine default, where pind listens on
// loopback). With either, a write without credentials fails with
// UNAUTHENTICATED and one with wrong credentials with PERMISSION_DENIED.
func WithWriterIdentities(ids ...string) Option {
	return func(o *options) { o.WriterIdentities = append([]string(nil), ids...) }
}

// WithRegisterToken lets a caller register instances with the metadata
// "authorization: Bearer <token>" (default: no token).
func WithRegisterToken(token string) Option { return func(o *options) { o.RegisterToken = token } }

// WithRegisterIdentities maps verified client-certificate identities (CN,
// DNS SAN or URI SAN) to the services each may register: "*" (every
// service), "pkg.*" (every service of proto package pkg and its
// sub-packages) or a service full name (default: none).
//
// With no admin token, writer identities, register token or register
// identities, registration is open. With any of them, Register needs the
// register token, the admin token, a writer identity, or an identity
// allowed to register every service it lists.
func WithRegisterIdentities(ids map[string][]string) Option {
	return func(o *options) {
		o.RegisterIdentities = make(map[string][]string, len(ids))
		for id, pats := range ids {
			o.RegisterIdentities[id] = append([]string(nil), pats...)
		}
	}
}

// WithName sets the name that identifies the Server in elections, in the
// pins and registrations it writes, and in logs (default hostname-pid).
func WithName(name string) Option { return func(o *options) { o.Name = name } }

// WithServerLogger sets the logger (default slog.Default()).
func WithServerLogger(l *slog.Logger) Option { return func(o *options) { o.Logger = l } }

// WithHistory sets how many updates the Server keeps in memory to resume
// watchers from a revision and to let slow subscribers catch up (default
// DefaultHistorySize, 1024), and the bound on their encoded size (default
// DefaultHistoryBytes, 64 MiB: updates of services with thousands of
// instances are large). The size of an update is estimated from the stored
// size of its instances, kept as they come and go, rather than by encoding
// it. A watcher further behind receives a full snapshot.
// A value of 0 keeps the default.
func WithHistory(size, bytes int) Option {
	return func(o *options) { o.HistorySize, o.HistoryBytes = size, bytes }
}

// WithRegisterer registers the Server's and its controller's Prometheus
// collectors on r (default: none registered).
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.Registerer = r } }

// WithRaiseInterval sets how often the leading controller evaluates every
// service (default the settle window / 10, at least 50ms and at most 1s).
func WithRaiseInterval(d time.Duration) Option { return func(o *options) { o.RaiseInterval = d } }

// WithAuditRetention bounds the recorded history of pin, hold, mode and
// contract changes (GetHistory): at most maxEntries entries (default
// DefaultAuditMaxEntries, 10000), none older than maxAge (default
// DefaultAuditMaxAge, 90 days). Zero keeps a default.
func WithAuditRetention(maxEntries int, maxAge time.Duration) Option {
	return func(o *options) { o.AuditMaxEntries, o.AuditMaxAge = maxEntries, maxAge }
}

// WithElectionTTL sets the TTL of the etcd session that holds the
// controller's leadership (default: the lease TTL; at least 1s). When the
// leading pind dies, another takes over within about this long; a leader
// that closes resigns at once.
func WithElectionTTL(d time.Duration) Option { return func(o *options) { o.ElectionTTL = d } }

// evaluateOptions applies opts over the defaults.
func evaluateOptions(opts []Option) (options, error) {
	var c options
	for _, o := range opts {
		o(&c)
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.Settle < 0 || c.LeaseTTL < 0 || c.RaiseInterval < 0 || c.ElectionTTL < 0 {
		return c, fmt.Errorf("pinsvc: negative duration in options (settle %v, lease TTL %v, raise interval %v, election TTL %v)", c.Settle, c.LeaseTTL, c.RaiseInterval, c.ElectionTTL)
	}
	if c.LeaseTTL < time.Second {
		return c, fmt.Errorf("pinsvc: lease TTL %v is below etcd's minimum of 1s", c.LeaseTTL)
	}
	if c.RaiseInterval == 0 {
		c.RaiseInterval = min(max(c.Settle/10, 50*time.Millisecond), time.Second)
	}
	if c.ElectionTTL < time.Second {
		c.ElectionTTL = c.LeaseTTL
	}
	if c.HistorySize <= 0 {
		c.HistorySize = DefaultHistorySize
	}
	if c.HistoryBytes <= 0 {
		c.HistoryBytes = DefaultHistoryBytes
	}
	if c.Name == "" {
		h, _ := os.Hostname()
		if h == "" {
			h = "pind"
		}
		c.Name = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}
