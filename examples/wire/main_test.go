package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rollpin/rollpin/internal/pindtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// startPind runs a PinService on a real embedded etcd and returns its
// address and server.
func startPind(t *testing.T) (string, *pinsvc.Server) {
	t.Helper()
	p := pindtest.Start(t, pindtest.WithServerOptions(pinsvc.WithSettle(time.Second), pinsvc.WithLeaseTTL(2*time.Second)))
	return p.Addr, p.Server
}

// waitPin waits until pind's state holds the service's pin at manifest.
func waitPin(t *testing.T, ps *pinsvc.Server, manifest string) {
	t.Helper()
	ch, done := ps.Subscribe()
	defer done()
	for {
		if v := ps.Snapshot().Service("acme.volume.v1.VolumeService"); v != nil && v.Pin != nil && v.Pin.GetManifest() == manifest {
			return
		}
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("pin not at %s after 30s", manifest)
		}
	}
}

// TestWire serves and calls through the interceptors with pins from a real
// pind: at the fleet's version first, then after an operator lowered the
// pin to 1.3 (a roll-back), where the same client sends what a 1.3 server
// understands.
func TestWire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pind, ps := startPind(t)
	addr, stop, err := Serve(ctx, []string{pind}, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	defer stop()
	waitPin(t, ps, "acme.volume.v1=1.4") // pind created the pin at the floor of the instance

	var out bytes.Buffer
	if err := Call(ctx, []string{pind}, addr, &out); err != nil {
		t.Fatalf("Call: %v", err)
	}
	want := "cap of acme.volume.v1.VolumeService: acme.volume.v1=1.4\n" +
		"created db: VOLUME_TYPE_NVME, 1536 MiB, 0 GiB\n" +
		"resized db: 4096 MiB\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("Call at 1.4 (-want +got):\n%s", diff)
	}

	conn, err := grpc.NewClient(pind, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := rollpinv1.NewPinServiceClient(conn).SetPin(ctx, &rollpinv1.SetPinRequest{
		Service: "acme.volume.v1.VolumeService", Manifest: "acme.volume.v1=1.3", Reason: "roll-back test",
	}); err != nil {
		t.Fatalf("SetPin(1.3): %v", err)
	}
	waitPin(t, ps, "acme.volume.v1=1.3")
	out.Reset()
	if err := Call(ctx, []string{pind}, addr, &out); err != nil {
		t.Fatalf("Call: %v", err)
	}
	// Sent as 1.3: NVMe as SSD, 1536 MiB rounded up to 2 GiB (the size_mib
	// hook), which the 1.4 server reads back as 2048 MiB (the upgrade hook).
	want = "cap of acme.volume.v1.VolumeService: acme.volume.v1=1.3\n" +
		"created db: VOLUME_TYPE_SSD, 2048 MiB, 0 GiB\n" +
		"ResizeVolume not available yet: FailedPrecondition\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("Call at 1.3 (-want +got):\n%s", diff)
	}
}

// TestWireWithoutPindSaysSo: run without a pind, the program's first line
// says it needs one, and it ends with the fix instead of retrying forever.
func TestWireWithoutPindSaysSo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wire")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sock := "unix://" + filepath.Join(t.TempDir(), "pind.sock") // nothing listens
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-pind", sock, "-wait", "300ms")
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("wire without pind: %v, want exit status 1\n%s", err, stderr.String())
	}
	lines := strings.Split(stderr.String(), "\n")
	if want := "wire needs a running pind at " + sock; !strings.HasPrefix(lines[0], want) {
		t.Errorf("first line %q, want it to start with %q", lines[0], want)
	}
	if !strings.Contains(stderr.String(), "start one with `go run ./cmd/pind`") {
		t.Errorf("output does not say how to start pind:\n%s", stderr.String())
	}
}
