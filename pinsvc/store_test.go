package pinsvc

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// An old instance that registers between a raise's floor check and its
// transaction makes the transaction fail, and the raise, decided again,
// sees the instance and is refused: the pin never ends above a live
// instance.
func TestRaiseRacingRegistrationSeesTheInstance(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	mustSetPin(t, ts.cli, testSvc, "1.3", true)
	if _, err := register(t, ts.cli, "new", "acme.volume.v1=1.4", testSvc); err != nil {
		t.Fatalf("Register(new): %v", err)
	}
	var calls atomic.Int32
	ts.srv.beforePinTxn = func() {
		if calls.Add(1) == 1 {
			if _, err := register(t, ts.cli, "old", "acme.volume.v1=1.3", testSvc); err != nil {
				t.Errorf("Register(old) before the raise's transaction: %v", err)
			}
		}
	}
	_, err := ts.cli.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.4", Reason: "race"})
	wantCode(t, "SetPin(1.4) racing the registration of an instance at 1.3", err, codes.FailedPrecondition)
	gp, err := ts.cli.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{Service: testSvc})
	if err != nil {
		t.Fatalf("GetPins: %v", err)
	}
	if got := gp.GetServices()[0].GetPin().GetManifest(); got != "acme.volume.v1=1.3" {
		t.Fatalf("pin after the race = %s, want acme.volume.v1=1.3 (instance old runs 1.3)", got)
	}
}

// A raise without force and the registration of an older instance, started
// together many times on two pinds: never both succeed.
func TestRaiseAndOldRegistrationNeverBothSucceed(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	a := startServer(t, cli, WithName("a"))
	b := startServer(t, cli, WithName("b"))
	mustSetPin(t, a.cli, testSvc, "1.3", true)
	if _, err := register(t, a.cli, "new", "acme.volume.v1=1.4", testSvc); err != nil {
		t.Fatalf("Register(new): %v", err)
	}
	const tries = 30
	both := 0
	for i := range tries {
		lower := a.cli
		if i%2 == 1 {
			lower = b.cli
		}
		mustSetPin(t, lower, testSvc, "1.3", true)
		var wg sync.WaitGroup
		var raiseErr, regErr error
		var cancel func()
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, raiseErr = a.cli.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.4", Reason: "race"})
		}()
		go func() {
			defer wg.Done()
			cancel, regErr = register(t, lower, fmt.Sprintf("old-%d", i), "acme.volume.v1=1.3", testSvc)
		}()
		wg.Wait()
		for _, err := range []error{raiseErr, regErr} {
			if c := status.Code(err); c != codes.OK && c != codes.FailedPrecondition {
				t.Fatalf("try %d: unexpected error %v", i, err)
			}
		}
		if raiseErr == nil && regErr == nil {
			both++
		}
		if cancel != nil {
			cancel()
		}
	}
	if both != 0 {
		t.Fatalf("raise to 1.4 and registration at 1.3 both succeeded in %d of %d tries, want 0", both, tries)
	}
}

// Two writers creating the pin of a new service with expected_revision 0:
// the second to commit is refused (ABORTED), it does not overwrite the
// first.
func TestConcurrentPinCreatorsDoNotOverwrite(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	var calls atomic.Int32
	ts.srv.beforePinTxn = func() {
		if calls.Add(1) == 1 {
			if _, err := ts.cli.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "2.0", Force: true, Reason: "first creator"}); err != nil {
				t.Errorf("SetPin(2.0) by the first creator: %v", err)
			}
		}
	}
	_, err := ts.cli.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.0", Force: true, Reason: "second creator"})
	wantCode(t, "SetPin(1.0) creating a pin created meanwhile", err, codes.Aborted)
	gp, err := ts.cli.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{Service: testSvc})
	if err != nil {
		t.Fatalf("GetPins: %v", err)
	}
	if got := gp.GetServices()[0].GetPin(); got.GetManifest() != "acme.volume.v1=2.0" || got.GetReason() != "first creator" {
		t.Fatalf("pin = %v, want the first creator's acme.volume.v1=2.0", got)
	}
}
