package main

import (
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// TestPinLowerStaysLowered checks that pin lower holds the pin in the same
// write, so that the controller does not raise it again, that release
// resumes automatic raises, and that --no-hold opts out.
func TestPinLowerStaysLowered(t *testing.T) {
	p := startPindWith(t, etcdtest.Start(t).Client(t), []pinsvc.Option{pinsvc.WithAdminToken(testToken), pinsvc.WithSettle(300 * time.Millisecond)}, nil, nil)
	p.register(t, "vol-a", "acme.volume.v1=1.4", volSvc)
	pinIs := func(want string) func(*rollpinv1.GetPinsResponse) bool {
		return func(r *rollpinv1.GetPinsResponse) bool {
			return len(r.GetServices()) == 1 && r.GetServices()[0].GetPin().GetManifest() == want
		}
	}
	p.waitFor(t, "the pin created at 1.4", pinIs("acme.volume.v1=1.4"))

	r := p.admin(t, "pin", "lower", "VolumeService", "1.3", "--reason", "roll back 1.4: bad latency")
	expect(t, r, exitOK, "pin of "+volSvc+": 1.4 -> 1.3\nheld: roll back 1.4: bad latency\nautomatic raises are frozen until `pindctl release "+volSvc+"`")
	st := p.state(t, volSvc)
	if st.GetPin().GetManifest() != "acme.volume.v1=1.3" || st.GetPin().GetHold().GetReason() != "roll back 1.4: bad latency" ||
		st.GetPin().GetHold().GetBy() != "admin-token" || st.GetRaise().GetState() != rollpinv1.RaiseState_RAISE_STATE_HELD {
		t.Fatalf("after pin lower: pin %v raise %v; want 1.3 held with the lowering's reason, raise HELD", st.GetPin(), st.GetRaise())
	}
	expect(t, p.ctl(t, nil, "status", "VolumeService"), exitOK, "roll back 1.4: bad latency (admin-token)")

	expect(t, p.admin(t, "release", "VolumeService"), exitOK, "automatic raises resume")
	p.waitFor(t, "the controller raising the released pin to 1.4", pinIs("acme.volume.v1=1.4"))

	r = p.admin(t, "pin", "lower", "VolumeService", "1.3", "--no-hold", "--reason", "brief test")
	expect(t, r, exitOK, "pin of "+volSvc+": 1.4 -> 1.3")
	if st := p.state(t, volSvc); st.GetPin().GetHold() != nil {
		t.Errorf("pin lower --no-hold set a hold: %v", st.GetPin().GetHold())
	}
	p.waitFor(t, "the controller raising the unheld pin to 1.4", pinIs("acme.volume.v1=1.4"))

	// Through the API, without pindctl: hold_on_lower with no reason holds
	// with a reason naming the roll-back; a raise never holds.
	resp, err := p.cli.SetPin(metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+testToken), &rollpinv1.SetPinRequest{Service: volSvc, Manifest: "1.2", HoldOnLower: true})
	if err != nil {
		t.Fatalf("SetPin(lower, hold_on_lower): %v", err)
	}
	if h := resp.GetState().GetPin().GetHold(); h.GetReason() != "rolled back from acme.volume.v1=1.4 to acme.volume.v1=1.2" {
		t.Errorf("hold after an API lowering = %v, want the default reason", h)
	}
}
