package dbgate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// ErrGateClosed: a contract migration's after= manifest is not reached;
// Up stopped before it.
var ErrGateClosed = errors.New("dbgate: contract migration waits for its gate")

// Runner applies goose migrations, gating contract migrations on pind.
// A Runner is not safe for concurrent use; concurrent runs, in any
// process, exclude each other through pind's migration lock.
type Runner struct {
	db   *sql.DB
	migs map[int64]*Migration
	p    *goose.Provider
	pind rollpinv1.PinServiceClient
	o    options
}

// GateResult is the gate of one pending contract migration.
type GateResult struct {
	// Migration is the pending contract migration.
	Migration *Migration
	// Verdict says whether its after= manifest is reached.
	Verdict Verdict
}

// NewRunner returns a Runner for the goose migrations in the root of fsys,
// applied to db (PostgreSQL), gated by pind. It does not contact either.
func NewRunner(db *sql.DB, fsys fs.FS, pind rollpinv1.PinServiceClient, opts ...Option) (*Runner, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	migs, bad, err := Load(fsys)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("dbgate: %s is not named <version>_<name>.sql: rename it", bad[0])
	}
	r := &Runner{db: db, migs: map[int64]*Migration{}, pind: pind, o: o}
	for _, m := range migs {
		r.migs[m.Version] = m
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("dbgate: %w", err)
	}
	r.p = p
	return r, nil
}

// Pending returns the migrations not applied yet, in order.
func (r *Runner) Pending(ctx context.Context) ([]*Migration, error) {
	st, err := r.p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("dbgate: read applied migrations: %w", err)
	}
	var out []*Migration
	for _, s := range st {
		if s.State == goose.StatePending {
			if m := r.migs[s.Source.Version]; m != nil {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// applied reports whether version is applied.
func (r *Runner) applied(ctx context.Context, version int64) (bool, error) {
	st, err := r.p.Status(ctx)
	if err != nil {
		return false, fmt.Errorf("dbgate: read applied migrations: %w", err)
	}
	for _, s := range st {
		if s.Source.Version == version {
			return s.State == goose.StateApplied, nil
		}
	}
	return false, nil
}

// Gate evaluates the gate of every pending contract migration.
func (r *Runner) Gate(ctx context.Context) ([]GateResult, error) {
	pending, err := r.Pending(ctx)
	if err != nil {
		return nil, err
	}
	var out []GateResult
	for _, m := range pending {
		if m.HeaderErr != nil {
			return out, fmt.Errorf("dbgate: %s: %w", m.File, m.HeaderErr)
		}
		if m.Phase != Contract {
			continue
		}
		v, err := Ready(ctx, r.pind, m.After)
		if err != nil {
			return out, fmt.Errorf("dbgate: %s: %w", m.File, err)
		}
		out = append(out, GateResult{Migration: m, Verdict: v})
	}
	return out, nil
}

// WaitGate waits (watch-driven) until the gate of every pending contract
// migration holds.
func (r *Runner) WaitGate(ctx context.Context) ([]GateResult, error) {
	res, err := r.Gate(ctx)
	if err != nil {
		return res, err
	}
	for i, g := range res {
		if g.Verdict.Reached {
			continue
		}
		v, err := Wait(ctx, r.pind, g.Migration.After, func(v Verdict) { r.say("%s: waiting: %s", g.Migration.File, v) })
		res[i].Verdict = v
		if err != nil {
			return res, fmt.Errorf("dbgate: %s: %w", g.Migration.File, err)
		}
	}
	return res, nil
}

func (r *Runner) say(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	r.o.logger.Info(line)
	if r.o.progress != nil {
		r.o.progress(line)
	}
}

// Close releases the goose provider (not db).
func (r *Runner) Close() error { return r.p.Close() }
