package dbgate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestUpGatesContractMigrations(t *testing.T) {
	t.Parallel()
	c, _ := startPind(t)
	db := openDB(t)
	leaveOld := registerInstance(t, c, "vol-a", "acme.volume.v1=1.3")
	registerInstance(t, c, "vol-b", "acme.volume.v1=1.4")
	setPin(t, c, "1.3")
	ctx := context.Background()

	r := newRunner(t, db, volumeMigrations(), c)
	gate, err := r.Gate(ctx)
	if err != nil || len(gate) != 1 || gate[0].Verdict.Reached {
		t.Fatalf("Gate = %v, %v; want one closed gate", gate, err)
	}
	if s := gate[0].Verdict.String(); !strings.Contains(s, "instance vol-a of acme.volume.v1.VolumeService runs acme.volume.v1=1.3") || !strings.Contains(s, "pin of acme.volume.v1.VolumeService is acme.volume.v1=1.3") {
		t.Errorf("verdict %q does not name the pin and vol-a", s)
	}

	done, err := r.Up(ctx)
	if !errors.Is(err, ErrGateClosed) || len(done) != 2 || !strings.Contains(err.Error(), "00003_drop_size_gb.sql") {
		t.Fatalf("Up = %d applied, %v; want the two expand migrations and ErrGateClosed before 00003", len(done), err)
	}
	if !hasColumn(t, db, "volumes", "size_gb") || !hasColumn(t, db, "volumes", "size_mib") {
		t.Fatal("after the first Up: want size_gb and size_mib")
	}
	if got := marks(t, c); got != "" {
		t.Errorf("marks before the contract = %q, want none", got)
	}

	leaveOld()
	waitInstances(t, c, 1)
	setPin(t, c, "1.4")
	done, err = r.Up(ctx)
	if err != nil || len(done) != 1 || len(done[0].Marks) != 1 {
		t.Fatalf("second Up = %v, %v; want the contract migration and its mark", done, err)
	}
	if hasColumn(t, db, "volumes", "size_gb") {
		t.Error("size_gb still exists after the contract migration")
	}
	if got, want := marks(t, c), "acme.volume.v1=1.4 00003_drop_size_gb.sql APPLIED"; got != want {
		t.Errorf("marks = %q, want %q", got, want)
	}
	_, err = c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: volumeSvc, Manifest: "1.3", Force: true, Reason: "roll back"})
	if info, _ := refusal.Of(err); status.Code(err) != codes.FailedPrecondition || info.GetReason() != refusal.PastContract {
		t.Errorf("SetPin 1.3 --force after the contract: %v, want PAST_CONTRACT", err)
	}
	if done, err := r.Up(ctx); err != nil || len(done) != 0 {
		t.Errorf("Up with nothing pending = %v, %v", done, err)
	}
}

func TestUpWaitsForTheGateAndRunsExclusively(t *testing.T) {
	t.Parallel()
	c, _ := startPind(t)
	db := openDB(t)
	leaveOld := registerInstance(t, c, "vol-a", "acme.volume.v1=1.3")
	setPin(t, c, "1.3")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	progress := make(chan string, 100)
	r := newRunner(t, db, volumeMigrations(), c, WithWait(true), WithProgress(func(l string) {
		select {
		case progress <- l:
		default:
		}
	}))
	type result struct {
		done []Applied
		err  error
	}
	res := make(chan result, 1)
	go func() {
		done, err := r.Up(ctx)
		res <- result{done, err}
	}()
	for l := range progress {
		if strings.Contains(l, "waiting") {
			break
		}
	}
	// While the first run waits it holds the lock: a second run is refused.
	_, err := newRunner(t, openDB(t), volumeMigrations(), c).Up(ctx)
	if info, _ := refusal.Of(err); info.GetReason() != refusal.MigrationLocked {
		t.Errorf("concurrent Up: %v, want MIGRATION_LOCKED", err)
	}
	leaveOld()
	registerInstance(t, c, "vol-b", "acme.volume.v1=1.4")
	setPin(t, c, "1.4")
	got := <-res
	if got.err != nil || len(got.done) != 3 {
		t.Fatalf("waiting Up = %d applied, %v; want all three", len(got.done), got.err)
	}
	if hasColumn(t, db, "volumes", "size_gb") {
		t.Error("size_gb still exists")
	}
}

func TestUpFailedContractRecordsNoMark(t *testing.T) {
	t.Parallel()
	c, _ := startPind(t)
	db := openDB(t)
	registerInstance(t, c, "vol-b", "acme.volume.v1=1.4")
	setPin(t, c, "1.4")
	fsys := volumeMigrations()
	fsys["00003_drop_size_gb.sql"].Data = []byte("-- rollpin:contract after=acme.volume.v1=1.4\n-- +goose Up\nALTER TABLE volumes DROP COLUMN size_gb;\nSELECT 1/0;\n")
	_, err := newRunner(t, db, fsys, c).Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "00003_drop_size_gb.sql failed and was rolled back") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Up = %v, want a one-line 'failed and was rolled back' error", err)
	}
	if !hasColumn(t, db, "volumes", "size_gb") {
		t.Error("the failed transaction dropped size_gb")
	}
	if got := marks(t, c); got != "" {
		t.Errorf("a failed contract migration left marks: %q", got)
	}
	// The pin can still be lowered: nothing contracted.
	if _, err := c.SetPin(context.Background(), &rollpinv1.SetPinRequest{Service: volumeSvc, Manifest: "1.3", Force: true, Reason: "roll back"}); err != nil {
		t.Errorf("SetPin 1.3 after a failed contract: %v", err)
	}
}

func TestUpNoTransactionFailure(t *testing.T) {
	t.Parallel()
	c, _ := startPind(t)
	db := openDB(t)
	fsys := files("00001_t.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE TABLE a (x int);\nCREATE TABLE a (x int);\n")
	_, err := newRunner(t, db, fsys, c).Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "NO TRANSACTION") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Up = %v, want a one-line error saying the NO TRANSACTION migration kept its first statements", err)
	}
	r := newRunner(t, db, fsys, c)
	if p, err := r.Pending(context.Background()); err != nil || len(p) != 1 {
		t.Errorf("Pending after the failure = %v, %v; want the migration still pending", p, err)
	}
}

func TestUpUnknownTrackAndBadHeader(t *testing.T) {
	t.Parallel()
	c, _ := startPind(t)
	db := openDB(t)
	registerInstance(t, c, "vol-b", "acme.volume.v1=1.4")
	fsys := files("00001_c.sql", "-- rollpin:contract after=acme.volumes.v1=1.4\n-- +goose Up\nSELECT 1;\n")
	_, err := newRunner(t, db, fsys, c).Up(context.Background())
	if !errors.Is(err, ErrUnknownTrack) || !strings.Contains(err.Error(), "acme.volumes.v1") {
		t.Errorf("Up with an unknown track: %v, want ErrUnknownTrack naming it", err)
	}
	bad := files("00001_c.sql", "-- rollpin:contract after=acme.volume.v1\n-- +goose Up\nSELECT 1;\n")
	_, err = newRunner(t, openDB(t), bad, c).Up(context.Background())
	if !errors.Is(err, ErrHeader) {
		t.Errorf("Up with a malformed header: %v, want ErrHeader", err)
	}
	if got := marks(t, c); got != "" {
		t.Errorf("marks = %q, want none", got)
	}
}

func TestUpSettlesAPendingMark(t *testing.T) {
	t.Parallel()
	c, _ := startPind(t)
	db := openDB(t)
	registerInstance(t, c, "vol-b", "acme.volume.v1=1.4")
	setPin(t, c, "1.4")
	ctx := context.Background()
	// A run that died after marking PENDING, before running the migration.
	lctx, release := context.WithCancel(ctx)
	st, err := c.LockMigrations(lctx, &rollpinv1.LockMigrationsRequest{Holder: "dead run"})
	if err != nil {
		t.Fatal(err)
	}
	lock, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MarkContract(ctx, &rollpinv1.MarkContractRequest{LockId: lock.GetLockId(), After: "acme.types.v1=2.0,acme.volume.v1=1.4", Migration: "00009_gone.sql", MigrationVersion: 9, State: rollpinv1.ContractState_CONTRACT_STATE_PENDING}); err == nil {
		t.Fatal("MarkContract for a track no service uses: want a refusal")
	}
	if _, err := c.MarkContract(ctx, &rollpinv1.MarkContractRequest{LockId: lock.GetLockId(), After: "acme.volume.v1=1.4", Migration: "00009_gone.sql", MigrationVersion: 9, State: rollpinv1.ContractState_CONTRACT_STATE_PENDING}); err != nil {
		t.Fatal(err)
	}
	release()
	var done []Applied
	deadline := time.Now().Add(10 * time.Second)
	for {
		done, err = newRunner(t, db, volumeMigrations(), c).Up(ctx)
		if info, _ := refusal.Of(err); info.GetReason() != refusal.MigrationLocked || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || len(done) != 3 {
		t.Fatalf("Up = %v, %v", done, err)
	}
	if got, want := marks(t, c), "acme.volume.v1=1.4 00003_drop_size_gb.sql APPLIED"; got != want {
		t.Errorf("marks = %q, want %q (the dead run's pending mark settled, then replaced)", got, want)
	}
}
