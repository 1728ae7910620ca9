package dbgate

import (
	"io"
	"log/slog"
	"os"
	"strconv"
)

// Option configures a Runner.
type Option func(*options)

type options struct {
	wait     bool
	holder   string
	logger   *slog.Logger
	progress func(string)
}

func defaultOptions() options {
	host, _ := os.Hostname()
	return options{
		holder: "migrate up on " + host + " pid " + strconv.Itoa(os.Getpid()),
		logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// WithWait makes Up wait (watch-driven) for the gate of a contract
// migration instead of stopping before it. The default is to stop.
func WithWait(wait bool) Option { return func(o *options) { o.wait = wait } }

// WithHolder names this run in the migration lock (shown to a concurrent
// run that finds the lock taken). The default names the host and pid.
func WithHolder(holder string) Option { return func(o *options) { o.holder = holder } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithProgress receives one line per step of Up and per new gate verdict
// while waiting (default: none).
func WithProgress(fn func(line string)) Option { return func(o *options) { o.progress = fn } }
