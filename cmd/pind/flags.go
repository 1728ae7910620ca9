package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rollpin/rollpin/internal/buildinfo"
	"github.com/rollpin/rollpin/pinsvc"
)

// options are pind's settings, from flags or PIND_* environment variables.
type options struct {
	listen             string
	etcdEndpoints      string
	dataDir            string
	embeddedClient     string
	embeddedPeer       string
	prefix             string
	settle             time.Duration
	leaseTTL           time.Duration
	tlsCert            string
	tlsKey             string
	tlsCA              string
	adminToken         string
	insecureToken      bool
	writerIdentities   string
	registerToken      string
	registerIdentities string
	metricsListen      string
	etcdCert           string
	etcdKey            string
	etcdCA             string
	etcdUsername       string
	etcdPassword       string
	logLevel           string
	logFormat          string
	name               string
	shutdownTimeout    time.Duration
	historyEntries     int
	historyAge         time.Duration
	httpListen         string
	version            bool
}

// envName returns the environment variable of a flag: PIND_ and the flag
// name in upper snake case (--etcd-endpoints → PIND_ETCD_ENDPOINTS).
func envName(flagName string) string {
	return "PIND_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// defaultDataDir is the embedded etcd's directory: $XDG_STATE_HOME/rollpin/pind,
// else ~/.local/state/rollpin/pind, else ./pind-data.
func defaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "rollpin", "pind")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "rollpin", "pind")
	}
	return "pind-data"
}

// errUsage marks a bad command line: pind exits with status 2.
var errUsage = errors.New("pind: usage")

// usageError is a bad command line, printed on one line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() + " (see pind --help)" }

// Is makes errors.Is(err, errUsage) hold for usage errors.
func (e *usageError) Is(target error) bool { return target == errUsage }

func (e *usageError) Unwrap() error { return e.err }

// parseFlags reads args, then fills every flag not given on the command
// line from its PIND_* environment variable. With --help or --version it
// prints to out and returns an error wrapping flag.ErrHelp; a bad command
// line is an error wrapping errUsage.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (*options, error) {
	o := &options{}
	parsed := false
	cmd := &cobra.Command{
		Use:   "pind [flags]",
		Short: "Serve rollpin's PinService",
		Long: `pind serves rollpin's PinService. Every flag can also be set with the
environment variable PIND_<FLAG> (e.g. PIND_ETCD_ENDPOINTS); a flag on the
command line wins.

Exit codes: 0 stopped by SIGTERM or SIGINT, 1 failed, 2 bad flags or arguments.`,
		Version:       buildinfo.Read().String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{fmt.Errorf("unexpected arguments %q: pind takes only flags", args)}
			}
			return nil
		},
		RunE: func(*cobra.Command, []string) error { parsed = true; return nil },
	}
	cmd.SetVersionTemplate("pind {{.Version}}\n")
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	cmd.CompletionOptions.DisableDefaultCmd = true
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.listen, "listen", "127.0.0.1:7070", "gRPC listen address")
	fs.StringVar(&o.etcdEndpoints, "etcd-endpoints", "", "comma-separated etcd endpoints; empty: run an embedded etcd in --data-dir")
	fs.StringVar(&o.dataDir, "data-dir", defaultDataDir(getenv), "directory of the embedded etcd")
	fs.StringVar(&o.embeddedClient, "embedded-client-addr", "127.0.0.1:0", "client listen address of the embedded etcd (port 0: any free port)")
	fs.StringVar(&o.embeddedPeer, "embedded-peer-addr", "127.0.0.1:0", "peer listen address of the embedded etcd (port 0: any free port)")
	fs.StringVar(&o.prefix, "prefix", pinsvc.DefaultPrefix, "etcd key prefix")
	fs.DurationVar(&o.settle, "settle", pinsvc.DefaultSettle, "auto-raise settle window")
	fs.DurationVar(&o.leaseTTL, "lease-ttl", pinsvc.DefaultLeaseTTL, "TTL of the registration lease (an instance whose pind dies leaves the floor after about this long)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "gRPC server certificate (PEM); with --tls-key enables TLS")
	fs.StringVar(&o.tlsKey, "tls-key", "", "gRPC server private key (PEM)")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "CA bundle (PEM) for client certificates; enables mutual TLS (every client must present a certificate)")
	fs.StringVar(&o.adminToken, "admin-token", "", "token allowing writes (\"authorization: Bearer <token>\"); prefer the PIND_ADMIN_TOKEN variable")
	fs.StringVar(&o.writerIdentities, "writer-identities", "", "comma-separated client-certificate identities (CN, DNS or URI SAN) allowed to write; needs --tls-ca")
	fs.StringVar(&o.registerToken, "register-token", "", "token allowing instances to register (\"authorization: Bearer <token>\"); prefer the PIND_REGISTER_TOKEN variable")
	fs.StringVar(&o.registerIdentities, "register-identities", "", "comma-separated identity=pattern pairs: the client-certificate identity (CN, DNS or URI SAN) may register the services the pattern covers: \"*\" every service, \"pkg.*\" the services of proto package pkg and its sub-packages, else one service full name (e.g. volume=acme.volume.v1.*,volume=acme.types.v1.TypeService); needs --tls-ca")
	fs.BoolVar(&o.insecureToken, "insecure-token", false, "accept --admin-token or --register-token without TLS (tokens then cross the network in clear text)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "address of the Prometheus /metrics endpoint; empty: none")
	fs.StringVar(&o.etcdCert, "etcd-cert", "", "client certificate for etcd (PEM)")
	fs.StringVar(&o.etcdKey, "etcd-key", "", "client key for etcd (PEM)")
	fs.StringVar(&o.etcdCA, "etcd-ca", "", "CA bundle to verify etcd (PEM)")
	fs.StringVar(&o.etcdUsername, "etcd-username", "", "etcd user")
	fs.StringVar(&o.etcdPassword, "etcd-password", "", "etcd password; prefer the PIND_ETCD_PASSWORD variable")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "json", "json or text")
	fs.StringVar(&o.name, "name", "", "identity of this pind in elections and logs (default hostname-pid)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown waits for calls in flight")
	fs.StringVar(&o.httpListen, "http-listen", "", "address of the read-only status page (HTTP, HTTPS with --tls-cert); empty: none")
	fs.IntVar(&o.historyEntries, "history-max-entries", pinsvc.DefaultAuditMaxEntries, "how many recorded pin, hold, mode and contract changes to keep (pindctl history)")
	fs.DurationVar(&o.historyAge, "history-max-age", pinsvc.DefaultAuditMaxAge, "how long to keep recorded changes")
	cmd.SetArgs(longDashes(args, fs))
	if err := cmd.Execute(); err != nil {
		if !errors.Is(err, errUsage) {
			err = &usageError{err}
		}
		return nil, err
	}
	if !parsed { // --help or --version
		return nil, fmt.Errorf("pind: %w", flag.ErrHelp)
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if e := f.Value.Set(v); e != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, e))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, &usageError{err}
	}
	return o, nil
}

// longDashes rewrites the single-dash long flags the standard flag package
// accepted ("-listen", "-data-dir=x") to pflag's "--listen", so command
// lines written for earlier releases keep working.
func longDashes(args []string, fs *pflag.FlagSet) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if name == "help" || name == "version" || fs.Lookup(name) != nil {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// parseRegisterIdentities parses --register-identities: comma-separated
// identity=pattern pairs, an identity may appear several times.
func parseRegisterIdentities(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, p := range splitList(s) {
		id, pat, ok := strings.Cut(p, "=")
		id, pat = strings.TrimSpace(id), strings.TrimSpace(pat)
		if !ok || id == "" || pat == "" {
			return nil, fmt.Errorf("--register-identities: %q is not identity=pattern (e.g. volume=acme.volume.v1.*)", p)
		}
		if err := checkRegisterPattern(pat); err != nil {
			return nil, fmt.Errorf("--register-identities: %s: %w", p, err)
		}
		out[id] = append(out[id], pat)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// checkRegisterPattern accepts "*", "pkg.*" and a service full name.
func checkRegisterPattern(p string) error {
	if p == "*" {
		return nil
	}
	name := strings.TrimSuffix(p, ".*")
	for part := range strings.SplitSeq(name, ".") {
		if part == "" {
			return fmt.Errorf("pattern %q has an empty name component", p)
		}
		for i, r := range part {
			ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
			if !ok {
				return fmt.Errorf("pattern %q: %q is not allowed; want \"*\", \"pkg.*\" or a service full name", p, r)
			}
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
