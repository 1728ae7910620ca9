package main

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/internal/fleettest"
	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
)

// serve starts the 1.4 service with the rollpin server interceptors on
// loopback and returns its address.
func serve(t *testing.T) string {
	t.Helper()
	return fleettest.Serve(t, func(s *grpc.Server) { volumepb.RegisterVolumeServiceServer(s, newVolumeService("test")) })
}

// TestSequenceChecks runs the load client's sequences against a 1.4 server
// under a 1.3 and a 1.4 cap: every answer must match what was asked, and
// under 1.3 the 1.4 features must be refused, never failed.
func TestSequenceChecks(t *testing.T) {
	for _, tt := range []struct {
		name    string
		minor   uint32
		refused bool
	}{{"cap 1.3", 3, true}, {"cap 1.4", 4, false}} {
		t.Run(tt.name, func(t *testing.T) {
			pins := fleettest.CapAt(tt.minor)
			vc := volumepb.NewVolumeServiceClient(fleettest.Dial(t, serve(t), pins))
			c := &loadClient{&fleet.Client{ID: "t", Pins: pins, Tally: &fleet.Tally{}}}
			r := rand.New(rand.NewPCG(1, 2))
			for i := range 60 {
				c.sequence(vc, r, "owner-"+strconv.Itoa(i))
			}
			got := c.Tally.Counts()
			if got.Failed != 0 || got.Lost != 0 {
				t.Fatalf("failed %d, lost %d, want 0; errors: %q", got.Failed, got.Lost, c.Tally.Errors())
			}
			if got.OK == 0 {
				t.Errorf("ok = 0, want calls to succeed")
			}
			if tt.refused && (got.NewMethodRefused == 0 || got.NewMethodOK != 0 || got.MultiAttachOK != 0 || got.NVMeOK != 0) {
				t.Errorf("under 1.3: %+v, want ResizeVolume refused and no 1.4 feature at work", got)
			}
			if !tt.refused && (got.Refused != 0 || got.NewMethodOK == 0 || got.MultiAttachOK == 0 || got.NVMeOK == 0) {
				t.Errorf("under 1.4: %+v, want every 1.4 feature at work and nothing refused", got)
			}
		})
	}
}

// TestProbe checks the features probe's outcomes under each cap.
func TestProbe(t *testing.T) {
	for _, tt := range []struct {
		name  string
		minor uint32
		want  map[string]string
	}{
		{"cap 1.3", 3, map[string]string{"nvme": "downgraded", "size_mib": "downgraded", "thick": "withheld", "resize": "refused", "multi_attach": "refused"}},
		{"cap 1.4", 4, map[string]string{"nvme": "ok", "size_mib": "ok", "thick": "ok", "resize": "ok", "multi_attach": "ok"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pins := fleettest.CapAt(tt.minor)
			addr := serve(t)
			tally := &fleet.Tally{}
			slots, err := fleet.DialSlots([]string{addr}, pins, fleet.NewObserver(tally), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer slots.Close()
			c := &loadClient{&fleet.Client{ID: "probe", Pins: pins, Tally: tally}}
			got, err := c.probe(slots)
			if err != nil {
				t.Fatalf("probe: %v", err)
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("probe()[%q] = %q, want %q", k, got[k], w)
				}
			}
			if n := tally.Counts(); n.Failed != 0 || n.Lost != 0 {
				t.Errorf("probe: failed %d, lost %d; errors %q", n.Failed, n.Lost, tally.Errors())
			}
		})
	}
}
