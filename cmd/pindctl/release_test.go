package main

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestReleases(t *testing.T) {
	p := startPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.4", volSvc)
	p.register(t, "bill-1", "acme.billing.v1=2.0", bill1Svc)

	r := p.admin(t, "release", "record", "liberty", "--manifest", "acme.volume.v1=1.3,acme.billing.v1=2.0", "--reason", "the spring release")
	expect(t, r, exitOK, "recorded release liberty: acme.billing.v1=2.0,acme.volume.v1=1.3")
	expect(t, p.admin(t, "release", "record", "liberty", "--manifest", "acme.billing.v1=2.0,acme.volume.v1=1.3"), exitOK, "already recorded")
	expect(t, p.admin(t, "release", "record", "liberty", "--manifest", "acme.volume.v1=1.4"), exitFailed, "release liberty is already recorded as acme.billing.v1=2.0,acme.volume.v1=1.3")
	expect(t, p.admin(t, "release", "record", "mitaka", "--descriptor-set", "testdata/volume-1.4.binpb"), exitOK, "recorded release mitaka: acme.volume.v1=1.4")
	expect(t, p.admin(t, "release", "record", "x"), exitUsage, "exactly one of --descriptor-set FILE and --manifest MANIFEST")
	expect(t, p.ctl(t, nil, "release", "record", "newton", "--manifest", "acme.volume.v1=1.5"), exitFailed, "pass an admin token")
	expect(t, p.admin(t, "release", "record", "a/b", "--manifest", "acme.volume.v1=1.5"), exitFailed, `release name "a/b" has '/'`)

	var list rollpinv1.ListReleasesResponse
	r = p.ctl(t, nil, "-o", "json", "release", "list")
	decodeJSON(t, r.out, &list)
	if rs := list.GetReleases(); len(rs) != 2 || rs[0].GetName() != "liberty" || rs[1].GetName() != "mitaka" || rs[0].GetRecordedBy() != "admin-token" || rs[0].GetRevision() == 0 {
		t.Errorf("release list = %v, want liberty then mitaka, recorded by admin-token", &list)
	}
	expect(t, p.ctl(t, nil, "release", "list"), exitOK, "the spring release")
	var rel rollpinv1.Release
	r = p.ctl(t, nil, "-o", "json", "release", "show", "liberty")
	decodeJSON(t, r.out, &rel)
	if rel.GetManifest() != "acme.billing.v1=2.0,acme.volume.v1=1.3" {
		t.Errorf("release show liberty = %v", &rel)
	}
	expect(t, p.ctl(t, nil, "release", "show", "nope"), exitFailed, "no release nope")

	// Pinning a service to a release sets only the tracks it uses.
	r = p.admin(t, "pin", "set", "VolumeService", "--release", "liberty")
	expect(t, r, exitOK, "pin of "+volSvc+": none -> 1.3")
	if st := p.state(t, volSvc); st.GetPin().GetManifest() != "acme.volume.v1=1.3" || st.GetPin().GetReason() != "release liberty" {
		t.Errorf("pin after --release liberty = %v, want acme.volume.v1=1.3 with the release as reason", st.GetPin())
	}
	if got := p.pinOf(t, bill1Svc); got != "" {
		t.Errorf("pin of %s = %q, want none (only the named service is pinned)", bill1Svc, got)
	}
	r = p.ctl(t, nil, "status", "VolumeService")
	expect(t, r, exitOK, "RELEASE")
	if f := strings.Fields(strings.Split(r.out, "\n")[1]); len(f) < 3 || f[2] != "liberty" {
		t.Errorf("status RELEASE of %s = %v, want liberty:\n%s", volSvc, f, r.out)
	}
	expect(t, p.ctl(t, nil, "release", "show", "mitaka"), exitOK, volSvc+"  1.3  no")
	expect(t, p.admin(t, "pin", "set", "VolumeService", "--release", "mitaka"), exitOK, "1.3 -> 1.4")
	r = p.ctl(t, nil, "status")
	if f := strings.Fields(strings.Split(r.out, "\n")[2]); len(f) < 3 || f[0] != volSvc || f[2] != "mitaka" {
		t.Errorf("status RELEASE of %s = %v, want mitaka:\n%s", volSvc, f, r.out)
	}
	expect(t, p.admin(t, "pin", "set", "BillingService", "--release", "mitaka"), exitFailed, "names none of the tracks "+bill1Svc+" uses (acme.billing.v1)")
	expect(t, p.admin(t, "pin", "set", "VolumeService", "--release", "nope"), exitFailed, "no release nope")
	expect(t, p.admin(t, "pin", "set", "VolumeService", "1.4", "--release", "liberty"), exitUsage, "SERVICE with --release")

	// Refusals carry their ErrorInfo.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+testToken)
	_, err := p.cli.RecordRelease(ctx, &rollpinv1.RecordReleaseRequest{Name: "liberty", Manifest: "acme.volume.v1=9.9"})
	if info, ok := refusal.Of(err); status.Code(err) != codes.AlreadyExists || !ok || info.GetReason() != refusal.ReleaseExists {
		t.Errorf("recording liberty again = %v, want ALREADY_EXISTS with reason %s", err, refusal.ReleaseExists)
	}
	_, err = p.cli.RecordRelease(ctx, &rollpinv1.RecordReleaseRequest{Name: "ok", Manifest: "not a manifest"})
	if info, ok := refusal.Of(err); status.Code(err) != codes.InvalidArgument || !ok || info.GetMetadata()["field"] != "manifest" {
		t.Errorf("recording a bad manifest = %v, want INVALID_ARGUMENT naming the field", err)
	}
}
