package pinsvc

import (
	"context"
	"testing"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func controllerOf(t testing.TB, p *testPind) *RaiseController {
	t.Helper()
	rc, ok := p.srv.ctrl.(*RaiseController)
	if !ok {
		t.Fatalf("server runs controller %T, want *RaiseController", p.srv.ctrl)
	}
	return rc
}

// leaderOf waits until exactly one of ps leads and returns its index.
func leaderOf(t testing.TB, ps ...*testPind) int {
	t.Helper()
	idx := -1
	eventually(t, "exactly one controller leads", func() bool {
		n := 0
		for i, p := range ps {
			if controllerOf(t, p).IsLeader() {
				n, idx = n+1, i
			}
		}
		return n == 1
	})
	return idx
}

func raiseState(p *testPind) rollpinv1.RaiseState {
	_, st := pinOf(p)
	return st
}

func TestHoldStopsRaiseReleaseLetsItHappen(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPind(t, c, "pind-0", "")
	admin := p.admin(t)
	setPin(t, admin, volSvc, "1.3", true)
	resp, err := admin.Hold(context.Background(), &rollpinv1.HoldRequest{Service: volSvc, Reason: "storage migration"})
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	if resp.GetState().GetRaise().GetState() != rollpinv1.RaiseState_RAISE_STATE_NO_INSTANCES {
		t.Errorf("Hold: raise state %v, want NO_INSTANCES before any instance", resp.GetState().GetRaise().GetState())
	}
	in := startInstance(t, vol14, "new-1", []string{p.addr})
	waitSync(t, in.pins)
	eventually(t, "raise reported HELD", func() bool { return raiseState(p) == rollpinv1.RaiseState_RAISE_STATE_HELD })
	holdsFor(t, "a hold stops the raise", 4*testSettle, func() bool {
		pin, st := pinOf(p)
		return pin == vol13 && st == rollpinv1.RaiseState_RAISE_STATE_HELD
	})
	if _, err := admin.Release(context.Background(), &rollpinv1.ReleaseRequest{Service: volSvc}); err != nil {
		t.Fatalf("Release: %v", err)
	}
	eventually(t, "release lets the raise happen", func() bool {
		pin, st := pinOf(p)
		return pin == vol14 && st == rollpinv1.RaiseState_RAISE_STATE_UP_TO_DATE
	})
	// The watch may show the raise before the controller counts it.
	eventually(t, "RaisesTotal = 1", func() bool { return controllerOf(t, p).Metrics().RaisesTotal() == 1 })
}

func TestManualPinIsNeverRaised(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPind(t, c, "pind-0", "")
	admin := p.admin(t)
	setPin(t, admin, volSvc, "1.3", true)
	if _, err := admin.SetMode(context.Background(), &rollpinv1.SetModeRequest{Service: volSvc, Mode: rollpinv1.PinMode_PIN_MODE_MANUAL}); err != nil {
		t.Fatalf("SetMode: %v", err)
	}
	in := startInstance(t, vol14, "new-1", []string{p.addr})
	waitSync(t, in.pins)
	eventually(t, "raise reported MANUAL", func() bool { return raiseState(p) == rollpinv1.RaiseState_RAISE_STATE_MANUAL })
	holdsFor(t, "a MANUAL pin stays", 4*testSettle, func() bool {
		pin, _ := pinOf(p)
		return pin == vol13
	})
	if n := controllerOf(t, p).Metrics().RaisesTotal(); n != 0 {
		t.Errorf("RaisesTotal = %d, want 0", n)
	}
}

// TestControllerFailover: two pinds share an etcd; the leading one dies
// without resigning; the other takes over and raises.
func TestControllerFailover(t *testing.T) {
	c := etcdtest.Start(t)
	ps := []*testPind{startPind(t, c, "pind-0", ""), startPind(t, c, "pind-1", "")}
	lead := leaderOf(t, ps...)
	other := ps[1-lead]
	setPin(t, other.admin(t), volSvc, "1.3", true)

	ps[lead].crash()
	eventually(t, "the surviving pind's controller takes over", func() bool { return controllerOf(t, other).IsLeader() })
	in := startInstance(t, vol14, "new-1", []string{other.addr})
	waitSync(t, in.pins)
	eventually(t, "the new leader raises the pin", func() bool {
		pin, _ := pinOf(other)
		return pin == vol14
	})
	// The watch may show the raise before the controller counts it.
	eventually(t, "new leader RaisesTotal = 1", func() bool { return controllerOf(t, other).Metrics().RaisesTotal() == 1 })
}

// TestLeaderResignsOnClose: a pind that shuts down hands the controller over
// at once (it resigns instead of letting its session expire).
func TestLeaderResignsOnClose(t *testing.T) {
	c := etcdtest.Start(t)
	ps := []*testPind{startPind(t, c, "pind-0", ""), startPind(t, c, "pind-1", "")}
	lead := leaderOf(t, ps...)
	ps[lead].stop()
	if controllerOf(t, ps[lead]).IsLeader() {
		t.Errorf("closed pind still reports leadership")
	}
	eventually(t, "the other pind leads", func() bool { return controllerOf(t, ps[1-lead]).IsLeader() })
}

// TestDeadPindsInstancesLeaveWithinLeaseTTL: an instance registered through
// a pind that dies (its stream never closed, its lease never revoked) drops
// out of the floor when the lease expires.
func TestDeadPindsInstancesLeaveWithinLeaseTTL(t *testing.T) {
	c := etcdtest.Start(t)
	p0, p1 := startPind(t, c, "pind-0", ""), startPind(t, c, "pind-1", "")
	in13 := startInstance(t, vol13, "old-1", []string{p0.addr})
	in14 := startInstance(t, vol14, "new-1", []string{p1.addr})
	waitSync(t, in13.pins)
	waitSync(t, in14.pins)
	eventually(t, "both instances live", func() bool { return registered(p1, "new-1", "old-1") })
	if v := p1.srv.Snapshot().Service(volSvc); v.Floor.String() != vol13 {
		t.Fatalf("floor = %s, want %s", v.Floor, vol13)
	}
	p0.crash()
	eventually(t, "the dead pind's instance leaves when its lease expires", func() bool { return registered(p1, "new-1") })
	if v := p1.srv.Snapshot().Service(volSvc); v.Floor.String() != vol14 {
		t.Errorf("floor after expiry = %s, want %s", v.Floor, vol14)
	}
}
