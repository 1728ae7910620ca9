package fleet

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
)

// Command is a subcommand of an example binary: its name on the command
// line and what runs it with the remaining arguments.
type Command struct {
	Name string
	Run  func(ctx context.Context, args []string, log *slog.Logger) error
}

// Main runs the subcommand named by os.Args[1] among cmds with a context
// cancelled by SIGTERM or an interrupt, and a logger of warnings on stderr.
// It exits with status 2 and a usage line when no subcommand is given, and
// with status 1 when the subcommand is unknown or fails.
func Main(prog string, cmds ...Command) {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name
	}
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: %s %s [flags]\n", prog, strings.Join(names, "|"))
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := fmt.Errorf("unknown command %q: want %s", os.Args[1], oneOf(names))
	for _, c := range cmds {
		if c.Name == os.Args[1] {
			err = c.Run(ctx, os.Args[2:], log)
			break
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		os.Exit(1)
	}
}

// oneOf lists names as "a, b or c".
func oneOf(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Register registers a binary's services on s for instance id; sizes is
// the shared volumes table, nil without -dsn (volumes then live in memory
// only); backfill says this instance runs the online data migration.
type Register func(s *grpc.Server, id string, sizes *Sizes, backfill bool)

// ServerCommand is the "server" subcommand of a binary of API version build
// (see RunServer).
func ServerCommand(build string, register Register) Command {
	return Command{Name: "server", Run: func(ctx context.Context, args []string, log *slog.Logger) error {
		return RunServer(ctx, args, log, build, register)
	}}
}

// ClientCommand is the "client" subcommand of a binary of API version build
// (see RunClient).
func ClientCommand(build string, seq Sequence) Command {
	return Command{Name: "client", Run: func(ctx context.Context, args []string, log *slog.Logger) error {
		return RunClient(ctx, args, log, build, seq)
	}}
}

// RunServer is the "server" subcommand of a binary of API version build: it
// parses the server flags (-listen, -pind, -id, -exit-on-stdin-eof, -dsn,
// -backfill) and runs Serve, reporting on stdout. register registers the
// binary's services for instance id.
func RunServer(ctx context.Context, args []string, log *slog.Logger, build string, register Register) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	pind := fs.String("pind", "127.0.0.1:7070", "pind endpoints, comma-separated")
	id := fs.String("id", "", "instance id (required)")
	stdinEOF := fs.Bool("exit-on-stdin-eof", false, "stop gracefully when stdin ends (the parent process is gone)")
	dsn := fs.String("dsn", os.Getenv("VOLUME_DSN"), "PostgreSQL DSN of the volumes table (default $VOLUME_DSN; empty: volumes in memory only)")
	backfill := fs.Bool("backfill", false, "run the online backfill of size_mib (API 1.4, with -dsn)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var sizes *Sizes
	if *dsn != "" {
		var err error
		if sizes, err = OpenSizes(*dsn, build != "1.3"); err != nil {
			return err
		}
		defer sizes.Close()
	}
	if *id == "" {
		return fmt.Errorf("server: -id is required")
	}
	if *stdinEOF {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go StopAtEOF(os.Stdin, cancel)
	}
	tally := &Tally{}
	if sizes != nil && *backfill {
		bctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go sizes.Backfill(bctx, 50, 200*time.Millisecond, log, func(n int64) { tally.Add(Backfilled, n) })
	}
	return Serve(ctx, ServerConfig{
		Listen: *listen, Pind: strings.Split(*pind, ","), ID: *id, Build: build, Logger: log,
	}, NewReporter(os.Stdout), tally, func(s *grpc.Server) { register(s, *id, sizes, *backfill) })
}
