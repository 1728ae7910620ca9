package pinsvc

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// lockMigrations takes the migration lock; cancel releases it.
func lockMigrations(t *testing.T, c rollpinv1.PinServiceClient, holder string) (id string, cancel context.CancelFunc, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := c.LockMigrations(ctx, &rollpinv1.LockMigrationsRequest{Holder: holder})
	if err == nil {
		var r *rollpinv1.LockMigrationsResponse
		if r, err = st.Recv(); err == nil {
			t.Cleanup(cancel)
			return r.GetLockId(), cancel, nil
		}
	}
	cancel()
	return "", nil, err
}

func wantReason(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	info, ok := refusal.Of(err)
	if status.Code(err) != code || !ok || info.GetReason() != reason {
		t.Errorf("%s: %v (reason %v), want %v %s", what, err, info.GetReason(), code, reason)
	}
}

func TestContractMarks(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	c := ts.cli
	ctx := ctxT(t)

	if _, err := register(t, c, "new", "acme.volume.v1=1.4,acme.types.v1=2.0", testSvc); err != nil {
		t.Fatal(err)
	}
	mustSetPin(t, c, testSvc, "acme.volume.v1=1.4", false)
	mark := func(lock, after, migration string, state rollpinv1.ContractState, remove bool) error {
		_, err := c.MarkContract(ctx, &rollpinv1.MarkContractRequest{LockId: lock, After: after, Migration: migration, MigrationVersion: 4, State: state, Remove: remove})
		return err
	}
	const pending, applied = rollpinv1.ContractState_CONTRACT_STATE_PENDING, rollpinv1.ContractState_CONTRACT_STATE_APPLIED

	wantReason(t, "MarkContract without the lock", mark("", "acme.volume.v1=1.4", "m", pending, false), codes.FailedPrecondition, refusal.MigrationLocked)
	lock, release, err := lockMigrations(t, c, "runner-1")
	if err != nil {
		t.Fatalf("LockMigrations: %v", err)
	}
	_, _, err = lockMigrations(t, c, "runner-2")
	wantReason(t, "second LockMigrations", err, codes.FailedPrecondition, refusal.MigrationLocked)

	wantReason(t, "MarkContract for a track no service uses", mark(lock, "acme.nope.v1=1.0", "00004_c.sql", pending, false), codes.FailedPrecondition, refusal.ContractNotReached)
	wantReason(t, "MarkContract above the pin", mark(lock, "acme.volume.v1=1.5", "00004_c.sql", pending, false), codes.FailedPrecondition, refusal.ContractNotReached)
	if err := mark(lock, "acme.volume.v1=1.4", "00004_c.sql", pending, false); err != nil {
		t.Fatalf("MarkContract pending: %v", err)
	}
	if err := mark(lock, "acme.volume.v1=1.4", "00004_c.sql", applied, false); err != nil {
		t.Fatalf("MarkContract applied: %v", err)
	}
	list, err := c.ListContracts(ctx, &rollpinv1.ListContractsRequest{})
	if err != nil || len(list.GetMarks()) != 1 || list.GetMarks()[0].GetState() != applied || list.GetMarks()[0].GetVersion() != "1.4" || list.GetMarks()[0].GetMigration() != "00004_c.sql" {
		t.Fatalf("ListContracts = %v, %v; want one applied mark acme.volume.v1=1.4 of 00004_c.sql", list, err)
	}

	// An old instance of another service (no pin there) is fenced by the mark.
	_, err = register(t, c, "old-other", "acme.volume.v1=1.3", "acme.volume.v1.Other")
	wantReason(t, "Register below the contract mark", err, codes.FailedPrecondition, refusal.Fenced)
	// Lowering the pin below the mark: refused, even with force.
	for _, force := range []bool{false, true} {
		_, err = c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.3", Force: force, Reason: "roll back"})
		wantReason(t, "SetPin below the contract mark", err, codes.FailedPrecondition, refusal.PastContract)
	}
	if _, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.3", Force: true, ForcePastContract: true, Reason: "schema restored"}); err != nil {
		t.Fatalf("SetPin --force-past-contract: %v", err)
	}
	waitState(t, ts.srv, "pin lowered", func(st *State) bool { return st.Service(testSvc).PinManifest.String() == "acme.volume.v1=1.3" })
	if _, err := register(t, c, "old", "acme.volume.v1=1.3", testSvc); err != nil {
		t.Errorf("Register at the forced-back pin: %v, want it admitted", err)
	}

	// A failed contract migration removes its pending mark and restores
	// the one it replaced.
	if err := mark(lock, "acme.types.v1=2.0", "00005_t.sql", pending, false); err != nil {
		t.Fatal(err)
	}
	if err := mark(lock, "acme.types.v1=2.0", "00005_t.sql", 0, true); err != nil {
		t.Fatalf("remove: %v", err)
	}
	list, _ = c.ListContracts(ctx, &rollpinv1.ListContractsRequest{})
	if len(list.GetMarks()) != 1 || list.GetMarks()[0].GetTrack() != "acme.volume.v1" {
		t.Errorf("after remove, marks = %v, want only acme.volume.v1", list.GetMarks())
	}
	// Removing does not touch an applied mark.
	if err := mark(lock, "acme.volume.v1=1.4", "00004_c.sql", 0, true); err != nil {
		t.Fatal(err)
	}
	list, _ = c.ListContracts(ctx, &rollpinv1.ListContractsRequest{})
	if len(list.GetMarks()) != 1 || list.GetMarks()[0].GetState() != applied {
		t.Errorf("remove of an applied mark changed it: %v", list.GetMarks())
	}

	// The lock ends with its stream.
	release()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, rel, err := lockMigrations(t, c, "runner-3")
		if err == nil {
			rel()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock not released after its stream ended: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantReason(t, "MarkContract with a released lock", mark(lock, "acme.volume.v1=1.4", "00004_c.sql", applied, false), codes.FailedPrecondition, refusal.MigrationLocked)
}
