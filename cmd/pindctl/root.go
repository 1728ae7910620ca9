package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/internal/buildinfo"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// streams are where a command reads its environment and writes its output.
// Tests inject buffers and a fake environment.
type streams struct {
	Out, Err io.Writer
	// Getenv reads an environment variable; nil means no environment.
	Getenv func(string) string
}

// envPrefix prefixes the environment variable of every global flag:
// --tls-ca is also PINDCTL_TLS_CA.
const envPrefix = "PINDCTL_"

// app holds the global options and the connection shared by the
// subcommands of one invocation.
type app struct {
	streams

	output    string
	endpoints string
	tlsCA     string
	tlsCert   string
	tlsKey    string
	token     string
	timeout   time.Duration

	conn   *grpc.ClientConn
	client rollpinv1.PinServiceClient
}

// newApp returns the state of one invocation writing to s.
func newApp(s streams) *app {
	if s.Getenv == nil {
		s.Getenv = func(string) string { return "" }
	}
	return &app{streams: s}
}

// close releases the connection to pind, if one was made.
func (a *app) close() {
	if a.conn != nil {
		a.conn.Close()
		a.conn, a.client = nil, nil
	}
}

// newRootCmd builds the pindctl command tree around a. Every subcommand is
// added here, one line each.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "pindctl",
		Short: "See and steer the version pins of a rollpin fleet",
		Long: `pindctl talks to pind, which stores the version pin of every gRPC service,
tracks the live instances and raises pins once the fleet has upgraded.

Every global flag can also be set from the environment as PINDCTL_<FLAG>,
e.g. PINDCTL_ENDPOINTS or PINDCTL_TLS_CA; a flag on the command line wins.

Exit codes: 0 done, 1 refused or failed, 2 bad flags or arguments.`,
		Version:       buildinfo.Read().String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noSubcommand,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.applyEnv(cmd.Root().PersistentFlags())
		},
	}
	root.SetVersionTemplate("pindctl {{.Version}}\n")
	root.SetOut(a.Out)
	root.SetErr(a.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })

	f := root.PersistentFlags()
	f.StringVarP(&a.output, "output", "o", "table", "output format: table, json or yaml")
	f.StringVar(&a.endpoints, "endpoints", "127.0.0.1:7070", "comma-separated pind addresses (host:port), tried in order")
	f.StringVar(&a.tlsCA, "tls-ca", "", "PEM file of the CA that signed pind's certificate (enables TLS)")
	f.StringVar(&a.tlsCert, "tls-cert", "", "PEM client certificate for mutual TLS (with --tls-key)")
	f.StringVar(&a.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&a.token, "token", "", "admin token, sent as \"authorization: Bearer <token>\"")
	f.DurationVar(&a.timeout, "timeout", 10*time.Second, "deadline of each request to pind")

	root.AddCommand(
		newStatusCmd(a),
		newPinCmd(a),
		newHoldCmd(a),
		newReleaseCmd(a),
		newModeCmd(a),
		newInstancesCmd(a),
		newWatchCmd(a),
		newManifestCmd(a),
		newCheckCmd(a),
	)
	a.registerCompletions(root)
	return root
}

// noSubcommand rejects positional arguments on a command that only groups
// subcommands, so a misspelt subcommand is a usage error.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			return usagef("unknown command %q for %q; did you mean %s?", args[0], cmd.CommandPath(), strings.Join(s, " or "))
		}
		return usagef("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

// exactArgs is cobra.ExactArgs with a usage error naming the arguments.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s, got %d argument(s); see %s --help", cmd.CommandPath(), names, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// maxArgs is cobra.MaximumNArgs with a usage error.
func maxArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("%s takes at most %s, got %d arguments; see %s --help", cmd.CommandPath(), names, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// applyEnv sets every global flag not given on the command line from its
// PINDCTL_ environment variable, then validates the global options.
func (a *app) applyEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		v := a.Getenv(name)
		if v == "" {
			return
		}
		if err := fl.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %v", name, v, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return &usageError{err: err}
	}
	switch a.output {
	case "table", "json", "yaml":
	default:
		return usagef("unknown output format %q: use -o table, json or yaml", a.output)
	}
	if a.timeout <= 0 {
		return usagef("--timeout must be positive, got %s", a.timeout)
	}
	if (a.tlsCert == "") != (a.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if _, err := parseEndpoints(a.endpoints); err != nil {
		return &usageError{err: err}
	}
	return nil
}
