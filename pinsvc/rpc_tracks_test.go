package pinsvc

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// A pin naming a track no instance announces and the pin does not name (a
// typo) is refused without --force, listing the known tracks, and changes
// nothing.
func TestSetPinRefusesUnknownTracks(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	mustSetPin(t, ts.cli, testSvc, "1.3", true)
	if _, err := register(t, ts.cli, "i1", "acme.volume.v1=1.4,acme.types.v1=2.0", testSvc); err != nil {
		t.Fatalf("Register: %v", err)
	}
	_, err := ts.cli.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "foo=1.4"})
	wantRefusal(t, "SetPin foo=1.4", err, codes.InvalidArgument, refusal.UnknownTrack)
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "acme.types.v1, acme.volume.v1") || !strings.Contains(msg, "foo") {
		t.Errorf("message %q does not name the unknown track and the known ones", msg)
	}
	_, err = ts.cli.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "foo=1.4", DryRun: true})
	wantRefusal(t, "SetPin foo=1.4 --dry-run", err, codes.InvalidArgument, refusal.UnknownTrack)
	gp, err := ts.cli.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{Service: testSvc})
	if err != nil || gp.GetServices()[0].GetPin().GetManifest() != "acme.volume.v1=1.3" {
		t.Fatalf("pin after the refused SetPin = %v, %v; want acme.volume.v1=1.3", gp, err)
	}
	// Known tracks pass: the instances' and the pin's own.
	mustSetPin(t, ts.cli, testSvc, "acme.types.v1=2.0,acme.volume.v1=1.4", false)
	// --force pins a track ahead of its instances.
	mustSetPin(t, ts.cli, testSvc, "acme.types.v1=2.0,acme.volume.v1=1.4,acme.extra.v1=1.0", true)
}
