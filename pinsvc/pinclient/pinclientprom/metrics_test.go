package pinclientprom

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/rollpin/rollpin/internal/pindtest"
	"github.com/rollpin/rollpin/pinsvc/pinclient"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startPind serves a real pinsvc.Server on an embedded etcd on loopback.
func startPind(t *testing.T) (addr string, stop func()) {
	t.Helper()
	p := pindtest.Start(t)
	return p.Addr, p.Stop
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
