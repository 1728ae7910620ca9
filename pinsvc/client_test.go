package pinsvc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Test timings: short settle and TTL; waits are bounded, never asserted.
const (
	testSettle = 300 * time.Millisecond
	testTTL    = 2 * time.Second
	waitFor    = 15 * time.Second
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// testPind is one pind: a Server on its own etcd client behind a real gRPC
// server on loopback.
type testPind struct {
	t    testing.TB
	srv  *Server
	gs   *grpc.Server
	cli  *clientv3.Client
	addr string
	done chan struct{}
}

// startPind starts a pind on addr ("" picks a free port) against the etcd
// cluster c, with its own etcd client (so that crash can cut it off).
func startPind(t testing.TB, c *etcdtest.Cluster, name, addr string, tune ...Option) *testPind {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	var err error
	for i := 0; i < 50; i++ { // a port just released may linger briefly
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints(),
		DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	opts := append([]Option{WithSettle(testSettle), WithLeaseTTL(testTTL), WithName(name), WithServerLogger(quietLog)}, tune...)
	srv, err := NewServer(cli, opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("Server.Start: %v", err)
	}
	gs := grpc.NewServer()
	rollpinv1.RegisterPinServiceServer(gs, srv)
	p := &testPind{t: t, srv: srv, gs: gs, cli: cli, addr: lis.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		gs.Serve(lis)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop shuts the pind down cleanly (its registrations leave at once).
func (p *testPind) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.gs.Stop()
	p.srv.Close()
	p.cli.Close()
	<-p.done
}

// crash kills the pind as a dead process would: connections drop and its
// etcd client is cut before it can revoke its lease, so its registrations
// live on until the lease TTL expires.
func (p *testPind) crash() {
	p.cli.Close()
	p.stop()
}

// admin returns a PinService client for operator calls.
func (p *testPind) admin(t testing.TB) rollpinv1.PinServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { cc.Close() })
	return rollpinv1.NewPinServiceClient(cc)
}

// newTestClient starts a Client on endpoints and closes it when the test
// ends.
func newTestClient(t testing.TB, endpoints []string, opts ...ClientOption) *Client {
	t.Helper()
	opts = append([]ClientOption{WithLogger(quietLog), WithBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	c, err := NewClient(endpoints, opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if err := c.Start(context.Background()); err != nil {
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

// eventually polls cond until it holds or waitFor passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %v: %s", waitFor, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// capIs reports whether c's cap of service is want.
func capIs(c *Client, service, want string) bool {
	m, ok := c.Cap(service)
	return ok && m.String() == want
}

func setPin(t testing.TB, pc rollpinv1.PinServiceClient, service, manifest string, force bool) *rollpinv1.SetPinResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resp, err := pc.SetPin(ctx, &rollpinv1.SetPinRequest{Service: service, Manifest: manifest, Force: force, Reason: "test"})
	if err != nil {
		t.Fatalf("SetPin(%s, %s): %v", service, manifest, err)
	}
	return resp
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
		opts      []ClientOption
	}{
		{"no endpoints", nil, nil},
		{"registration without id", []string{"127.0.0.1:1"}, []ClientOption{WithRegistration(Registration{Services: []string{svcA}})}},
		{"registration without services", []string{"127.0.0.1:1"}, []ClientOption{WithRegistration(Registration{ID: "a"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := NewClient(tc.endpoints, tc.opts...); err == nil {
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
		v := p.srv.Snapshot().Service(svcA)
		return cl.Err() == nil && v != nil && len(v.Instances) == 1 && v.Instances[0].GetId() == "old-1"
	})
}

func BenchmarkClientCap(b *testing.B) {
	c := etcdtest.Start(b)
	p := startPind(b, c, "pind-0", "")
	setPin(b, p.admin(b), svcA, "acme.volume.v1=1.3", true)
	cl := newTestClient(b, []string{p.addr})
	waitSync(b, cl)
	b.Run("pinsvc.Client", func(b *testing.B) {
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

// TestClientCloseEndsGoroutines: after Close, every goroutine the Client
// started (stream reader, applier, gRPC connections) is gone.
func TestClientCloseEndsGoroutines(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPind(t, c, "pind-0", "")
	setPin(t, p.admin(t), svcA, "acme.volume.v1=1.3", true)
	before := 0
	for i, reg := range []bool{true, false, true} {
		if i == 1 {
			// The first registration made pind grant its lease (with its
			// keep-alive goroutines): count from here.
			time.Sleep(100 * time.Millisecond)
			before = runtime.NumGoroutine()
		}
		var opts []ClientOption
		if reg {
			opts = append(opts, WithRegistration(Registration{ID: "a", Services: []string{svcA}, Manifest: mustManifest(t, "acme.volume.v1=1.3")}))
		}
		cl, err := NewClient([]string{p.addr, "127.0.0.1:1"}, append(opts, WithLogger(quietLog), WithBackoff(20*time.Millisecond, 200*time.Millisecond))...)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitSync(t, cl)
		if err := cl.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := cl.Start(context.Background()); !errors.Is(err, ErrClientClosed) {
			t.Errorf("Start after Close = %v, want ErrClientClosed", err)
		}
	}
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
