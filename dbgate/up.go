package dbgate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Applied is one migration Up applied.
type Applied struct {
	Migration *Migration
	// Marks are the contract marks recorded (contract migrations only).
	Marks []*rollpinv1.ContractMark
}

// Up applies the pending migrations in order, holding pind's migration
// lock for the whole run: expand migrations at once; a contract migration
// only when its after= manifest is reached — otherwise Up stops before it
// with an error wrapping ErrGateClosed that names what blocks it, or, with
// WithWait, waits for it. A contract migration is bracketed by contract
// marks: PENDING before it runs (pind re-checks the gate and from then on
// refuses to lower the pins and fences older instances), APPLIED after it
// ran, removed when it failed. A mark left PENDING by a run that died is
// settled at the start of the next run (APPLIED when goose recorded the
// migration, removed otherwise).
//
// A failing migration stops Up with an error naming it. Inside a
// transaction nothing of it stays; a NO TRANSACTION migration keeps the
// statements before the failing one (the error says so). Up returns what
// it applied before stopping.
func (r *Runner) Up(ctx context.Context) ([]Applied, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := r.pind.LockMigrations(ctx, &rollpinv1.LockMigrationsRequest{Holder: r.o.holder})
	if err != nil {
		return nil, fmt.Errorf("dbgate: take the migration lock: %w", err)
	}
	lock, err := stream.Recv()
	if err != nil {
		return nil, fmt.Errorf("dbgate: take the migration lock: %w", err)
	}
	lost := make(chan error, 1)
	go func() {
		_, err := stream.Recv() // ends when the lock ends
		lost <- err
	}()
	defer func() { cancel(); <-lost }()
	lockID := lock.GetLockId()

	if err := r.settle(ctx, lockID); err != nil {
		return nil, err
	}
	pending, err := r.Pending(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range pending {
		if m.HeaderErr != nil {
			return nil, fmt.Errorf("dbgate: %s: %w: fix the header (pindctl migrate lint); nothing was applied", m.File, m.HeaderErr)
		}
	}
	var done []Applied
	for _, m := range pending {
		select {
		case err := <-lost:
			return done, fmt.Errorf("dbgate: lost the migration lock before %s: %v; run up again", m.File, err)
		default:
		}
		if m.Phase == Expand {
			if err := r.apply(ctx, m); err != nil {
				return done, err
			}
			r.say("%s: applied (expand)", m.File)
			done = append(done, Applied{Migration: m})
			continue
		}
		marks, err := r.contract(ctx, lockID, m)
		if err != nil {
			return done, err
		}
		done = append(done, Applied{Migration: m, Marks: marks})
	}
	return done, nil
}

// contract runs one contract migration through its gate and marks.
func (r *Runner) contract(ctx context.Context, lockID string, m *Migration) ([]*rollpinv1.ContractMark, error) {
	v, err := Ready(ctx, r.pind, m.After)
	if err != nil {
		return nil, fmt.Errorf("dbgate: %s: %w", m.File, err)
	}
	if !v.Reached {
		if !r.o.wait {
			return nil, fmt.Errorf("%w: %s stops here: %s; run again once they are upgraded, or with --wait", ErrGateClosed, m.File, v)
		}
		r.say("%s: waiting: %s", m.File, v)
		if _, err := Wait(ctx, r.pind, m.After, func(v Verdict) { r.say("%s: waiting: %s", m.File, v) }); err != nil {
			return nil, fmt.Errorf("dbgate: %s: %w", m.File, err)
		}
	}
	mark := func(state rollpinv1.ContractState, remove bool) (*rollpinv1.MarkContractResponse, error) {
		return r.pind.MarkContract(ctx, &rollpinv1.MarkContractRequest{
			LockId: lockID, After: m.After.String(), Migration: m.File, MigrationVersion: m.Version, State: state, Remove: remove,
		})
	}
	if _, err := mark(rollpinv1.ContractState_CONTRACT_STATE_PENDING, false); err != nil {
		return nil, fmt.Errorf("dbgate: %s: pind refused the contract mark, nothing was applied: %w", m.File, err)
	}
	if err := r.apply(ctx, m); err != nil {
		if _, rerr := mark(0, true); rerr != nil {
			return nil, fmt.Errorf("%w (and removing its pending contract mark failed: %v; the next run settles it)", err, rerr)
		}
		return nil, err
	}
	resp, err := mark(rollpinv1.ContractState_CONTRACT_STATE_APPLIED, false)
	if err != nil {
		return nil, fmt.Errorf("dbgate: %s was applied but its contract mark stays PENDING (%w); it still fences, and the next run marks it APPLIED", m.File, err)
	}
	var mine []*rollpinv1.ContractMark
	for _, mk := range resp.GetMarks() {
		if mk.GetMigration() == m.File {
			mine = append(mine, mk)
		}
	}
	r.say("%s: applied (contract after %s); contract marks recorded: pins of %s can no longer be lowered below it", m.File, m.After, tracks(m.After))
	return mine, nil
}

func tracks(m backport.Manifest) string {
	var t []string
	for _, e := range m.Entries() {
		t = append(t, e.Track)
	}
	return strings.Join(t, ", ")
}

// apply runs one migration with goose.
func (r *Runner) apply(ctx context.Context, m *Migration) error {
	_, err := r.p.ApplyVersion(ctx, m.Version, true)
	if err == nil {
		return nil
	}
	var pe *goose.PartialError
	if errors.As(err, &pe) && pe.Err != nil {
		err = pe.Err
	}
	msg := oneLine(err.Error())
	if m.NoTransaction {
		return fmt.Errorf("dbgate: %s failed: %s; it is a NO TRANSACTION migration: the statements before the failing one stay applied and goose did not record it — make them idempotent (IF NOT EXISTS) and run up again", m.File, msg)
	}
	return fmt.Errorf("dbgate: %s failed and was rolled back: %s", m.File, msg)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// settle resolves contract marks a dead run left PENDING.
func (r *Runner) settle(ctx context.Context, lockID string) error {
	list, err := r.pind.ListContracts(ctx, &rollpinv1.ListContractsRequest{})
	if err != nil {
		return fmt.Errorf("dbgate: list contract marks: %w", err)
	}
	seen := map[string]bool{}
	for _, mk := range list.GetMarks() {
		if mk.GetState() != rollpinv1.ContractState_CONTRACT_STATE_PENDING || seen[mk.GetMigration()] {
			continue
		}
		seen[mk.GetMigration()] = true
		ok, err := r.applied(ctx, mk.GetMigrationVersion())
		if err != nil {
			return err
		}
		req := &rollpinv1.MarkContractRequest{LockId: lockID, After: mk.GetAfter(), Migration: mk.GetMigration(), MigrationVersion: mk.GetMigrationVersion()}
		if ok {
			req.State = rollpinv1.ContractState_CONTRACT_STATE_APPLIED
		} else {
			req.Remove = true
		}
		if _, err := r.pind.MarkContract(ctx, req); err != nil {
			return fmt.Errorf("dbgate: settle the pending contract mark of %s: %w", mk.GetMigration(), err)
		}
		r.say("%s: settled a contract mark left pending by an earlier run (applied: %v)", mk.GetMigration(), ok)
	}
	return nil
}
