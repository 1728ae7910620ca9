package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/spf13/cobra"

	"github.com/rollpin/rollpin/dbgate"
)

// migrateFlags are the options of migrate gate and migrate up.
type migrateFlags struct {
	dsn  string
	wait bool
}

func (f *migrateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dsn, "dsn", "", "PostgreSQL connection string (postgres://user@host:port/db?sslmode=...; also PINDCTL_DSN)")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until every pending contract migration's gate holds (watch-driven; --timeout, when given, bounds the whole command)")
}

// migrateContext bounds a migrate command by --timeout when it was given
// on the command line; otherwise migrations (which may build indexes for
// hours) and --wait run unbounded until interrupted. Connecting to the
// database is always bounded by --timeout.
func (a *app) migrateContext(ctx context.Context, cmd *cobra.Command) (context.Context, context.CancelFunc) {
	if fl := cmd.Flag("timeout"); fl == nil || !fl.Changed {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.timeout)
}

// withRunner is the RunE of a migrate command on DIR (its one argument):
// fn runs with the command's context (see migrateContext) and a Runner on
// the database and pind, closed when fn returns; errors are reported as
// migrate errors.
func (a *app) withRunner(f *migrateFlags, fn func(ctx context.Context, r *dbgate.Runner) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, cancel := a.migrateContext(cmd.Context(), cmd)
		defer cancel()
		r, closeAll, err := a.openRunner(ctx, args[0], f)
		if err != nil {
			return a.migrateError(err)
		}
		defer closeAll()
		return fn(ctx, r)
	}
}

// openRunner connects to the database and pind and loads DIR.
func (a *app) openRunner(ctx context.Context, dir string, f *migrateFlags) (*dbgate.Runner, func(), error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, nil, usagef("%s is not a directory of migrations", dir)
	}
	dsn := f.dsn
	if dsn == "" {
		dsn = a.Getenv("PINDCTL_DSN")
	}
	if dsn == "" {
		return nil, nil, usagef("--dsn is required: the PostgreSQL connection string (or PINDCTL_DSN)")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, nil, usagef("--dsn: %s", oneLine(err.Error()))
	}
	pctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("cannot connect to the database (--dsn): %s; check host, port, user and that PostgreSQL is running", oneLine(err.Error()))
	}
	c, err := a.pind()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	r, err := dbgate.NewRunner(db, os.DirFS(dir), c, dbgate.WithWait(f.wait), dbgate.WithProgress(func(l string) { fmt.Fprintln(a.Out, l) }))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return r, func() { r.Close(); db.Close() }, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// migrateError turns a runner error into pindctl's one-line message.
func (a *app) migrateError(err error) error {
	if err == nil {
		return nil
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return err
	}
	msg := oneLine(err.Error())
	if errors.Is(err, context.DeadlineExceeded) {
		msg += " (raise --timeout)"
	}
	return errors.New(msg)
}

// newMigrateGateCmd is `pindctl migrate gate DIR --dsn ...`.
func newMigrateGateCmd(a *app) *cobra.Command {
	var f migrateFlags
	cmd := &cobra.Command{
		Use:   "gate DIR --dsn DSN [--wait [--timeout D]]",
		Short: "Tell whether each pending contract migration may run, and what blocks it",
		Long: `gate reads which migrations of DIR the database has not applied and, for
each pending contract migration, whether its after= manifest is reached: the
pin of every service that uses the track is at or above it and every live
instance runs at or above it. Otherwise it names the pins and instances that
block it. --wait blocks until every gate holds, following pind's watch
stream (no polling); --timeout bounds the wait.

Exit code 0 when every gate holds (or none is pending), 1 otherwise.`,
		Example: `  pindctl migrate gate db/migrations --dsn postgres://app@db:5432/app
  pindctl migrate gate db/migrations --dsn "$DSN" --wait --timeout 30m`,
		Args: exactArgs(1, "the migrations directory (DIR)"),
		RunE: a.withRunner(&f, func(ctx context.Context, r *dbgate.Runner) error {
			var res []dbgate.GateResult
			var err error
			if f.wait {
				res, err = r.WaitGate(ctx)
			} else {
				res, err = r.Gate(ctx)
			}
			if err != nil {
				return a.migrateError(err)
			}
			if len(res) == 0 {
				fmt.Fprintln(a.Out, "no pending contract migration")
				return nil
			}
			closed := 0
			for _, g := range res {
				fmt.Fprintf(a.Out, "%s: %s\n", g.Migration.File, g.Verdict)
				if !g.Verdict.Reached {
					closed++
				}
			}
			if closed > 0 {
				return fmt.Errorf("%d contract migration(s) may not run yet; wait for the blocking instances to upgrade and the pins to rise (--wait)", closed)
			}
			return nil
		}),
	}
	f.register(cmd)
	return cmd
}

// newMigrateUpCmd is `pindctl migrate up DIR --dsn ...`.
func newMigrateUpCmd(a *app) *cobra.Command {
	var f migrateFlags
	cmd := &cobra.Command{
		Use:   "up DIR --dsn DSN [--wait [--timeout D]]",
		Short: "Apply pending migrations: expand at once, contract through the gate",
		Long: `up applies the pending migrations of DIR in version order with goose,
holding pind's migration lock (a second concurrent up is refused). Expand
migrations run at once. A contract migration runs only when its gate holds
(see migrate gate); otherwise up stops before it, says why and exits 1, or,
with --wait, waits for it.

Running a contract migration is a point of no return: pind records a
contract mark for its tracks (after= version, migration, time, who), then
refuses to lower those pins below it and fences older instances; only
pin lower --force-past-contract overrides it. A contract migration that
fails records no mark.`,
		Example: `  pindctl migrate up db/migrations --dsn postgres://app@db:5432/app
  pindctl migrate up db/migrations --dsn "$DSN" --wait --timeout 1h`,
		Args: exactArgs(1, "the migrations directory (DIR)"),
		RunE: a.withRunner(&f, func(ctx context.Context, r *dbgate.Runner) error {
			done, err := r.Up(ctx)
			if err != nil {
				return a.migrateError(err)
			}
			if len(done) == 0 {
				fmt.Fprintln(a.Out, "nothing to apply: the database is up to date")
			}
			return nil
		}),
	}
	f.register(cmd)
	return cmd
}
