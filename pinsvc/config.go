package pinsvc

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
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
	// DefaultHistoryBytes bounds the encoded size of that history (64 MiB).
	DefaultHistoryBytes = 64 << 20
)

// Config configures a Server. The zero value works: defaults apply to every
// zero field.
type Config struct {
	// Prefix is the etcd key prefix of every key (default "/rollpin/"). A
	// missing trailing '/' is added.
	Prefix string
	// Settle is the auto-raise settle window used by the controller
	// (default 60s).
	Settle time.Duration
	// LeaseTTL is the TTL of the etcd lease that holds this Server's
	// registrations (default 10s). An instance whose pind dies drops out of
	// the floor within about LeaseTTL.
	LeaseTTL time.Duration
	// AdminToken, when set, lets a caller write (SetPin, Hold, Release,
	// SetMode) with the metadata "authorization: Bearer <token>".
	AdminToken string
	// WriterIdentities, when set, lets a caller write with a verified client
	// certificate whose subject CN, a DNS SAN or a URI SAN is in the list.
	//
	// With neither AdminToken nor WriterIdentities, writes are open to every
	// caller (the single-machine default, where pind listens on loopback).
	// With either, a write without credentials fails with UNAUTHENTICATED
	// and one with wrong credentials with PERMISSION_DENIED. Reads and
	// Register are never restricted beyond the transport (use mTLS).
	WriterIdentities []string
	// Name identifies this Server in elections, pins it writes and logs
	// (default hostname-pid).
	Name string
	// Logger receives the logs (default slog.Default()).
	Logger *slog.Logger
	// HistorySize is how many updates the Server keeps in memory to resume
	// watchers from a revision and to let slow subscribers catch up
	// (default 1024). A watcher further behind receives a full snapshot.
	HistorySize int
	// HistoryBytes bounds the encoded size of that history (default 64 MiB):
	// updates of services with thousands of instances are large.
	HistoryBytes int
	// Registerer, when set, receives the Server's Prometheus collectors.
	Registerer prometheus.Registerer
	// AuditMaxEntries bounds the recorded history of pin, hold, mode and
	// contract changes (GetHistory): the oldest entries beyond it are
	// deleted (default DefaultAuditMaxEntries).
	AuditMaxEntries int
	// AuditMaxAge is how long history entries are kept (default
	// DefaultAuditMaxAge).
	AuditMaxAge time.Duration
}

func (c Config) withDefaults() (Config, error) {
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
	if c.Settle < 0 || c.LeaseTTL < 0 {
		return c, fmt.Errorf("pinsvc: negative duration in config (settle %v, lease TTL %v)", c.Settle, c.LeaseTTL)
	}
	if c.LeaseTTL < time.Second {
		return c, fmt.Errorf("pinsvc: lease TTL %v is below etcd's minimum of 1s", c.LeaseTTL)
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
