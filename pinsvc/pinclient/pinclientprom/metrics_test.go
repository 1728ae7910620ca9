package pinclientprom

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc"
	"github.com/rollpin/rollpin/pinsvc/pinclient"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startPind serves a real pinsvc.Server on an embedded etcd on loopback.
func startPind(t *testing.T) (addr string, stop func()) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ps, err := pinsvc.NewServer(etcdtest.Start(t).Client(t), pinsvc.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	rollpinv1.RegisterPinServiceServer(gs, ps)
	done := make(chan struct{})
	go func() { defer close(done); gs.Serve(lis) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			gs.Stop()
			ps.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after 15s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMetricsFollowAClient: the collectors register cleanly and report a
// real client's stream, updates and snapshot file writes.
func TestMetricsFollowAClient(t *testing.T) {
	m := NewMetrics(WithConstLabels(prometheus.Labels{"client": "test"}))
	reg := prometheus.NewRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatalf("Register: %v", err)
	}
	addr, stopPind := startPind(t)
	cl, err := pinclient.NewClient([]string{addr}, pinclient.WithInsecure(), pinclient.WithMetrics(m),
		pinclient.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		pinclient.WithSnapshotFile(t.TempDir()+"/pins.json"),
		pinclient.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "connected and a file write reported", func() bool {
		return testutil.ToFloat64(m.connected) == 1 && testutil.ToFloat64(m.writes.WithLabelValues("ok")) >= 1
	})
	if got := testutil.ToFloat64(m.revision); got != float64(cl.Snapshot().Revision()) {
		t.Errorf("rollpin_pinclient_revision = %v, want %d", got, cl.Snapshot().Revision())
	}
	if testutil.ToFloat64(m.updates) < 1 || testutil.ToFloat64(m.batches) < 1 {
		t.Errorf("updates %v, batches %v, want at least 1 each", testutil.ToFloat64(m.updates), testutil.ToFloat64(m.batches))
	}
	stopPind()
	eventually(t, "disconnection reported", func() bool {
		return testutil.ToFloat64(m.connected) == 0 && testutil.CollectAndCount(m.ends) >= 1
	})
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("Gather: %d metrics, %v", n, err)
	}
}
