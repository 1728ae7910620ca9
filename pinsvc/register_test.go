package pinsvc

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestRegisterFencing(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	c := ts.cli

	// No pin: anything registers.
	if _, err := register(t, c, "any", "acme.volume.v1=0.1", "acme.volume.v1.Fresh"); err != nil {
		t.Fatalf("Register without a pin: %v", err)
	}
	mustSetPin(t, c, testSvc, "acme.volume.v1=1.4,acme.types.v1=2.0", true)
	for _, tc := range []struct {
		manifest string
		want     codes.Code
	}{
		{"acme.volume.v1=1.4,acme.types.v1=2.0", codes.OK},
		{"acme.volume.v1=1.5", codes.OK},              // lacks the types track: does not speak it
		{"acme.volume.v1=1.4,other.v1=0.1", codes.OK}, // tracks the pin does not cap
		{"acme.volume.v1=1.3,acme.types.v1=2.0", codes.FailedPrecondition},
		{"acme.volume.v1=1.4,acme.types.v1=1.9", codes.FailedPrecondition},
	} {
		_, err := register(t, c, "i-"+strings.NewReplacer("=", "", ",", "").Replace(tc.manifest), tc.manifest, testSvc)
		if got := status.Code(err); got != tc.want {
			t.Errorf("Register(%s) under pin 1.4/2.0: code %v (%v), want %v", tc.manifest, got, err, tc.want)
		}
	}
	_, err := register(t, c, "old", "acme.volume.v1=1.3,acme.types.v1=2.0", testSvc)
	msg := status.Convert(err).Message()
	for _, want := range []string{"old", "acme.types.v1=2.0,acme.volume.v1=1.4", testSvc, "pindctl pin lower " + testSvc + " acme.types.v1=2.0,acme.volume.v1=1.3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("fencing message %q does not contain %q", msg, want)
		}
	}
	// Lowering the pin lets it in (roll-back).
	mustSetPin(t, c, testSvc, "1.3", false)
	if _, err := register(t, c, "old", "acme.volume.v1=1.3,acme.types.v1=2.0", testSvc); err != nil {
		t.Fatalf("Register after lowering the pin: %v", err)
	}
	// Fencing covers every service of the instance: one fenced, none written.
	mustSetPin(t, c, "acme.volume.v1.Other", "1.9", true)
	_, err = register(t, c, "multi", "acme.volume.v1=1.5", testSvc, "acme.volume.v1.Other")
	wantCode(t, "Register with one fenced service", err, codes.FailedPrecondition)
	resp, err := cli.Get(ctxT(t), DefaultPrefix+"instances/"+testSvc+"/multi")
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("fenced registration left a key: %v, %v", resp, err)
	}
}

// A pin raised between the fencing read and the registration write makes
// the registration transaction fail, and the retry fences the instance: the
// check and the write are one etcd transaction.
func TestRegisterFencingIsInTheSameTransaction(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	rev := mustSetPin(t, ts.cli, testSvc, "1.3", true).GetState().GetPinRevision()
	var calls atomic.Int32
	ts.srv.beforeRegisterTxn = func() {
		if calls.Add(1) == 1 {
			if _, err := ts.cli.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.4", ExpectedRevision: rev, Reason: "race"}); err != nil {
				t.Errorf("SetPin: %v", err)
			}
		}
	}
	_, err := register(t, ts.cli, "racer", "acme.volume.v1=1.3", testSvc)
	wantCode(t, "Register racing a raise", err, codes.FailedPrecondition)
	if n := calls.Load(); n != 1 {
		t.Errorf("registration transaction attempted %d times before fencing, want 1 (then the fencing read)", n)
	}
	resp, err := cli.Get(ctxT(t), DefaultPrefix+"instances/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("instances after a fenced race: %v, %v; want none", resp.Kvs, err)
	}
	// SetPin is a CAS: the stale revision now fails.
	_, err = ts.cli.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "2.0", ExpectedRevision: rev, Force: true, Reason: "stale"})
	wantCode(t, "SetPin at a stale revision", err, codes.Aborted)
}

// pollUntil polls cond every 10ms for up to 20s.
func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An instance that reconnects to another pind before its old stream ends
// gets its ID back once the old stream is gone, and the old stream's cleanup
// leaves the new registration alone.
func TestRegisterReclaimedAfterTheOldStreamKeepsKey(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	a := startServer(t, cli, WithName("a"))
	b := startServer(t, cli, WithName("b"))
	cancelA, err := register(t, a.cli, "i1", "acme.volume.v1=1.3", testSvc)
	if err != nil {
		t.Fatal(err)
	}
	// The instance reconnects to b before its stream on a ends: refused.
	_, err = register(t, b.cli, "i1", "acme.volume.v1=1.3", testSvc)
	wantCode(t, "Register of i1 on b while a holds it", err, codes.AlreadyExists)
	cancelA()
	pollUntil(t, "i1 registered on b", func() bool {
		_, err := register(t, b.cli, "i1", "acme.volume.v1=1.3", testSvc)
		return err == nil
	})
	pollUntil(t, "a's stream gone", func() bool { return a.srv.Registrations() == 0 })
	// A later change proves a's cleanup ran and the key survived.
	mustSetPin(t, a.cli, testSvc, "1.3", true)
	st := waitState(t, a.srv, "the pin", func(st *State) bool { return st.Service(testSvc).Pin != nil })
	if n := numInstances(st, testSvc); n != 1 {
		t.Fatalf("instances after the old stream ended = %d, want 1 (the newer registration)", n)
	}
}

// A lost registration lease ends its Register streams with UNAVAILABLE (the
// instance registers again, here or through another pind) and the next
// registration gets a new lease.
func TestLostLeaseEndsRegisterStreams(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := ts.cli.Register(ctx, &rollpinv1.RegisterRequest{
		Instance: &rollpinv1.Instance{Id: "i1", Manifest: "acme.volume.v1=1.3", Build: "test"},
		Services: []string{testSvc},
	})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("Register: first update: %v", err)
	}
	leases, err := cli.Leases(ctxT(t))
	if err != nil || len(leases.Leases) != 1 {
		t.Fatalf("leases = %v, %v; want one", leases, err)
	}
	old := leases.Leases[0].ID
	if _, err := cli.Revoke(ctxT(t), old); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	for {
		if _, err = st.Recv(); err != nil {
			break
		}
	}
	wantCode(t, "Register stream after its lease was revoked", err, codes.Unavailable)
	if _, err := register(t, ts.cli, "i1", "acme.volume.v1=1.3", testSvc); err != nil {
		t.Fatalf("Register again: %v", err)
	}
	resp, err := cli.Get(ctxT(t), DefaultPrefix+"instances/"+testSvc+"/i1")
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 || resp.Kvs[0].Lease == int64(old) {
		t.Fatalf("i1 after registering again = %v, %v; want it under a new lease", resp, err)
	}
}

// An open Register stream holds one goroutine on pind, on a small stack:
// the registration's etcd calls run on a goroutine of their own that ends
// with them, and the loss of the lease or of etcd reaches the stream
// through callbacks, not a watcher goroutine per stream. With thousands of
// instances per pind, each goroutine per stream costs tens of MiB.
// (Not parallel: it counts every Register goroutine in the process.)
func TestRegisterStreamHoldsOneGoroutine(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	const n = 40
	for i := range n {
		if _, err := register(t, ts.cli, fmt.Sprintf("i%02d", i), "acme.volume.v1=1.3", testSvc); err != nil {
			t.Fatalf("Register %d: %v", i, err)
		}
	}
	count := func() int {
		buf := make([]byte, 1<<24)
		buf = buf[:runtime.Stack(buf, true)]
		c := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "pinsvc.(*Server).Register") {
				c++
			}
		}
		return c
	}
	// Every stream has received its first update: its goroutines are the
	// ones it keeps.
	if got := count(); got != n {
		t.Fatalf("%d goroutines run Register for %d open streams, want %d (one each)", got, n, n)
	}
}
