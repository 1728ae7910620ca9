package main

import (
	"testing"
	"time"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// TestExpectedFleetSize checks that an expected fleet size shows missing
// instances and keeps the controller from raising after a crash, until
// --allow-raise.
func TestExpectedFleetSize(t *testing.T) {
	p := startPindWith(t, etcdtest.Start(t).Client(t), []pinsvc.Option{pinsvc.WithAdminToken(testToken), pinsvc.WithSettle(300 * time.Millisecond)}, nil, nil)
	leaveA := p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	p.register(t, "vol-b", "acme.volume.v1=1.4", volSvc)
	p.waitFor(t, "the pin created at 1.3", func(r *rollpinv1.GetPinsResponse) bool {
		return len(r.GetServices()) == 1 && r.GetServices()[0].GetPin().GetManifest() == "acme.volume.v1=1.3"
	})
	r := p.admin(t, "expect", "VolumeService", "3")
	expect(t, r, exitOK, volSvc+": expect 3 instances; progress 1/3 at 1.4 (1 missing)")
	var resp rollpinv1.SetExpectedResponse
	decodeJSON(t, p.admin(t, "-o", "json", "expect", "VolumeService", "3").out, &resp)
	if resp.GetState().GetPin().GetExpectedInstances() != 3 {
		t.Errorf("expect -o json = %v, want 3 expected instances", &resp)
	}

	// vol-a (1.3) crashes: the floor is 1.4, but 1 of 3 instances is live.
	leaveA()
	p.waitFor(t, "vol-a gone", func(r *rollpinv1.GetPinsResponse) bool {
		return len(r.GetServices()) == 1 && len(r.GetServices()[0].GetInstances()) == 1
	})
	st := p.state(t, volSvc)
	if st.GetRaise().GetState() != rollpinv1.RaiseState_RAISE_STATE_BLOCKED || st.GetPin().GetManifest() != "acme.volume.v1=1.3" {
		t.Fatalf("after the crash: pin %s, raise %v; want 1.3 and BLOCKED on the expected instances", st.GetPin().GetManifest(), st.GetRaise())
	}
	r = p.ctl(t, nil, "status", "VolumeService")
	expect(t, r, exitOK, "1/3 at 1.4 (2 missing)")
	expect(t, r, exitOK, "1 of 3 expected instances are live")

	expect(t, p.admin(t, "expect", "VolumeService", "3", "--allow-raise"), exitOK, "expect 3 instances")
	p.waitFor(t, "the controller raising to 1.4 once allowed", func(r *rollpinv1.GetPinsResponse) bool {
		return r.GetServices()[0].GetPin().GetManifest() == "acme.volume.v1=1.4"
	})
	expect(t, p.admin(t, "expect", "VolumeService", "0"), exitOK, "no expected number of instances")
	expect(t, p.admin(t, "expect", "VolumeService", "x"), exitUsage, `N "x"`)
}
