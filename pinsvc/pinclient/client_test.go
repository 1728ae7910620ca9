package pinclient

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// newTestClient starts a Client on endpoints and closes it when the test
// ends.
func newTestClient(t testing.TB, endpoints []string, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{WithInsecure(), WithLogger(quietLog), WithBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	c, err := NewClient(endpoints, opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("Client.Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitSync(t testing.TB, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.WaitForSync(ctx); err != nil {
		t.Fatalf("WaitForSync: %v", err)
	}
}

// capIs reports whether c's cap of service is want.
func capIs(c *Client, service, want string) bool {
	m, ok := c.Cap(service)
	return ok && m.String() == want
}

const svcA = "acme.volume.v1.VolumeService"

func TestClientFollowsPins(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPind(t, c, "pind-0", "")
	admin := p.admin(t)
	setPin(t, admin, svcA, "acme.volume.v1=1.3", true)

	var updates atomic.Int64
	cl := newTestClient(t, []string{p.addr}, WithOnUpdate(func(*Snapshot) { updates.Add(1) }))
	waitSync(t, cl)
	if got, ok := cl.Cap(svcA); !ok || got.String() != "acme.volume.v1=1.3" {
		t.Fatalf("Cap(%s) = %v, %v, want acme.volume.v1=1.3, true", svcA, got, ok)
	}
	if _, ok := cl.Cap("acme.unknown.v1.Nothing"); ok {
		t.Errorf("Cap(unknown) ok = true, want false")
	}
	setPin(t, admin, svcA, "acme.volume.v1=1.5", true)
	eventually(t, "client sees pin 1.5", func() bool { return capIs(cl, svcA, "acme.volume.v1=1.5") })
	if updates.Load() < 2 {
		t.Errorf("OnUpdate called %d times, want at least 2", updates.Load())
	}
	if s := cl.Snapshot(); !s.Synced() || s.Revision() == 0 {
		t.Errorf("Snapshot() synced=%v revision=%d, want synced with a revision", s.Synced(), s.Revision())
	}
	if err := cl.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
}

func TestClientCapDoesNotAllocate(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPind(t, c, "pind-0", "")
	setPin(t, p.admin(t), svcA, "acme.volume.v1=1.3", true)
	cl := newTestClient(t, []string{p.addr})
	waitSync(t, cl)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := cl.Cap(svcA); !ok {
			t.Fatal("Cap: no pin")
		}
	})
	if allocs != 0 {
		t.Errorf("Cap allocates %v times per call, want 0", allocs)
	}
}

// TestClientSurvivesPindOutage: pind goes away, the client keeps its pins;
// changes made meanwhile (through another pind) arrive when it reconnects.
func TestClientSurvivesPindOutage(t *testing.T) {
	c := etcdtest.Start(t)
	p0 := startPind(t, c, "pind-0", "")
	addr0 := p0.addr
	setPin(t, p0.admin(t), svcA, "acme.volume.v1=1.3", true)
	cl := newTestClient(t, []string{addr0})
	waitSync(t, cl)

	p0.stop()
	// While pind is down: the last pins keep serving.
	for i := 0; i < 50; i++ {
		if !capIs(cl, svcA, "acme.volume.v1=1.3") {
			t.Fatalf("Cap(%s) lost the pin while pind is down", svcA)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A change made while the client is disconnected (through another pind).
	p1 := startPind(t, c, "pind-1", "")
	setPin(t, p1.admin(t), svcA, "acme.volume.v1=1.4", true)
	setPin(t, p1.admin(t), "acme.other.v1.Other", "acme.other.v1=2.0", true)
	if !capIs(cl, svcA, "acme.volume.v1=1.3") {
		t.Fatalf("Cap(%s) changed while disconnected", svcA)
	}
	// pind comes back on the same address: the client resumes.
	startPind(t, c, "pind-0b", addr0)
	eventually(t, "client sees the change made during the outage", func() bool {
		return capIs(cl, svcA, "acme.volume.v1=1.4") && capIs(cl, "acme.other.v1.Other", "acme.other.v1=2.0")
	})
}

// TestClientFailsOverAcrossEndpoints: with two pinds, losing one moves the
// stream to the other.
func TestClientFailsOverAcrossEndpoints(t *testing.T) {
	c := etcdtest.Start(t)
	p0 := startPind(t, c, "pind-0", "")
	p1 := startPind(t, c, "pind-1", "")
	setPin(t, p0.admin(t), svcA, "acme.volume.v1=1.3", true)
	cl := newTestClient(t, []string{p0.addr, p1.addr})
	waitSync(t, cl)
	p0.stop()
	setPin(t, p1.admin(t), svcA, "acme.volume.v1=1.4", true)
	eventually(t, "client follows pins through the second pind", func() bool { return capIs(cl, svcA, "acme.volume.v1=1.4") })
}

func TestClientSnapshotFile(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPind(t, c, "pind-0", "")
	setPin(t, p.admin(t), svcA, "acme.volume.v1=1.3", true)
	file := filepath.Join(t.TempDir(), "pins.json")
	cl := newTestClient(t, []string{p.addr}, WithSnapshotFile(file))
	waitSync(t, cl)
	eventually(t, "snapshot file written", func() bool {
		b, err := os.ReadFile(file)
		return err == nil && strings.Contains(string(b), "acme.volume.v1=1.3")
	})
	cl.Close()
	p.stop()

	// Restart during the outage: the caps come from the file.
	cl2 := newTestClient(t, []string{p.addr}, WithSnapshotFile(file))
	if got, ok := cl2.Cap(svcA); !ok || got.String() != "acme.volume.v1=1.3" {
		t.Fatalf("Cap(%s) from the snapshot file = %v, %v, want acme.volume.v1=1.3, true", svcA, got, ok)
	}
	if cl2.Snapshot().Synced() {
		t.Errorf("snapshot loaded from file reports Synced() = true")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := cl2.WaitForSync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitForSync with pind down = %v, want context.DeadlineExceeded", err)
	}
}

func TestClientCorruptSnapshotFileIsIgnored(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pins.json")
	if err := os.WriteFile(file, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	cl := newTestClient(t, []string{"127.0.0.1:1"}, WithSnapshotFile(file))
	if s := cl.Snapshot(); s != nil {
		t.Errorf("Snapshot() after a corrupt file = %v, want nil", s.Services())
	}
}

func TestNewClientValidates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		endpoints []string
		opts      []Option
	}{
		{"no endpoints", nil, nil},
		{"registration without id", []string{"127.0.0.1:1"}, []Option{WithRegistration(Registration{Services: []string{svcA}})}},
		{"registration without services", []string{"127.0.0.1:1"}, []Option{WithRegistration(Registration{ID: "a"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := NewClient(tc.endpoints, append(tc.opts, WithInsecure())...); err == nil {
				c.Close()
				t.Errorf("NewClient(%v) = nil error, want an error", tc.endpoints)
			}
		})
	}
}

func TestServicesOf(t *testing.T) {
	gs := grpc.NewServer()
	rollpinv1.RegisterPinServiceServer(gs, rollpinv1.UnimplementedPinServiceServer{})
	got := ServicesOf(gs)
	if len(got) != 1 || got[0] != "rollpin.v1.PinService" {
		t.Errorf("ServicesOf = %v, want [rollpin.v1.PinService]", got)
	}
}

// TestClientFencedRegistration: an instance below the pin is refused with
// FAILED_PRECONDITION naming the pin and the pindctl command; the client
// reports it (Err, OnError, WaitForSync) and registers once the pin is
// lowered.
func TestClientFencedRegistration(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPind(t, c, "pind-0", "")
	admin := p.admin(t)
	setPin(t, admin, svcA, "acme.volume.v1=1.4", true)

	errs := make(chan error, 10)
	old := mustManifest(t, "acme.volume.v1=1.3")
	cl := newTestClient(t, []string{p.addr},
		WithRegistration(Registration{ID: "old-1", Services: []string{svcA}, Manifest: old, Build: "v1.3.0"}),
		WithOnError(func(err error) { errs <- err }))
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err := cl.WaitForSync(ctx)
	if !errors.Is(err, ErrFenced) || status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("WaitForSync of a fenced instance = %v, want ErrFenced with FAILED_PRECONDITION", err)
	}
	for _, want := range []string{"acme.volume.v1=1.4", "pindctl pin lower"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("fencing error %q does not mention %q", err, want)
		}
	}
	select {
	case e := <-errs:
		if !errors.Is(e, ErrFenced) {
			t.Errorf("OnError got %v, want ErrFenced", e)
		}
	case <-time.After(waitFor):
		t.Errorf("OnError not called")
	}
	// Still watching: its own outgoing caps stay current.
	eventually(t, "fenced client still has caps", func() bool { return capIs(cl, svcA, "acme.volume.v1=1.4") })

	// Roll-back: lowering the pin lets the instance in.
	setPin(t, admin, svcA, "acme.volume.v1=1.3", false)
	eventually(t, "instance registered after the pin was lowered", func() bool {
		ids := p.instanceIDs(svcA)
		return cl.Err() == nil && len(ids) == 1 && ids[0] == "old-1"
	})
}

func BenchmarkClientCap(b *testing.B) {
	c := etcdtest.Start(b)
	p := startPind(b, c, "pind-0", "")
	setPin(b, p.admin(b), svcA, "acme.volume.v1=1.3", true)
	cl := newTestClient(b, []string{p.addr})
	waitSync(b, cl)
	b.Run("pinclient.Client", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				cl.Cap(svcA)
			}
		})
	})
	// Baseline: a plain map lookup with no synchronisation at all.
	plain := map[string]backport.Manifest{svcA: mustManifest(b, "acme.volume.v1=1.3")}
	b.Run("baseline-map", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = plain[svcA]
			}
		})
	})
}
