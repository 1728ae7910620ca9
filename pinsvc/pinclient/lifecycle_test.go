package pinclient

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// messages returns the messages logged at level.
func (h *logRecorder) messages(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if r.Level == level {
			out = append(out, r.Message)
		}
	}
	return out
}

// events is a Reporter that counts what it is told.
type events struct {
	connected, disconnected, applied, saved atomic.Int64
}

func (e *events) Connected(string, bool)     { e.connected.Add(1) }
func (e *events) Disconnected(string, error) { e.disconnected.Add(1) }
func (e *events) Applied(int, int64)         { e.applied.Add(1) }
func (e *events) SnapshotSaved(error)        { e.saved.Add(1) }

// TestClientOutlivesTheStartersContext: the natural start-up — a timeout
// for the wait, canceled once synced — must not stop the client: pins
// changed afterwards still arrive.
func TestClientOutlivesTheStartersContext(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPind(t, c, "pind-0", "")
	admin := p.admin(t)
	setPin(t, admin, svcA, "acme.volume.v1=1.3", true)

	cl, err := NewClient([]string{p.addr}, WithInsecure(), WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	if err := cl.WaitForSync(ctx); err != nil {
		t.Fatalf("WaitForSync: %v", err)
	}
	cancel() // the start-up is over

	setPin(t, admin, svcA, "acme.volume.v1=1.4", true)
	eventually(t, "client sees the pin set after its start-up context ended", func() bool { return capIs(cl, svcA, "acme.volume.v1=1.4") })

	// A WaitForSync that times out leaves the client running too.
	expired, cancel2 := context.WithTimeout(context.Background(), 0)
	defer cancel2()
	if err := cl.WaitForSync(expired); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitForSync(expired ctx) = %v, want nil or context.DeadlineExceeded", err)
	}
	setPin(t, admin, svcA, "acme.volume.v1=1.5", true)
	eventually(t, "client still follows pins", func() bool { return capIs(cl, svcA, "acme.volume.v1=1.5") })

	if err := cl.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := cl.WaitForSync(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitForSync after Close = %v, want ErrClosed", err)
	}
	if err := cl.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

// TestNewClientRequiresExplicitCredentials: plaintext is a choice
// (WithInsecure), never a default.
func TestNewClientRequiresExplicitCredentials(t *testing.T) {
	if c, err := NewClient([]string{"127.0.0.1:7070"}); !errors.Is(err, ErrNoCredentials) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("NewClient without credentials = %v, want ErrNoCredentials", err)
	}
	c, err := NewClient([]string{"127.0.0.1:7070"}, WithInsecure())
	if err != nil {
		t.Fatalf("NewClient(WithInsecure) = %v, want nil", err)
	}
	c.Close()
}

// TestNoPindWarnsOnceWithTheFix: a client that reaches no pind says so once
// at WARN, naming the address and how to start pind, retries quietly, and
// says at INFO when it connects.
func TestNoPindWarnsOnceWithTheFix(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "pind.sock") // nothing listens yet
	logs := &logRecorder{}
	ev := &events{}
	cl, err := NewClient([]string{sock}, WithInsecure(), WithLogger(slog.New(logs)), WithMetrics(ev),
		WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "20 failed attempts", func() bool { return ev.disconnected.Load() >= 20 })
	warns := logs.messages(slog.LevelWarn)
	if len(warns) != 1 {
		t.Fatalf("after %d failed attempts, %d WARN lines %q, want 1", ev.disconnected.Load(), len(warns), warns)
	}
	for _, want := range []string{"is pind running at " + sock + "?", "start it with `pind`", "pass its address"} {
		if !strings.Contains(warns[0], want) {
			t.Errorf("WARN %q does not say %q", warns[0], want)
		}
	}
	if infos := logs.messages(slog.LevelInfo); len(infos) != 0 {
		t.Errorf("INFO lines before pind runs: %q", infos)
	}

	startPind(t, etcdtest.Start(t), "pind-0", sock)
	waitSync(t, cl)
	infos := logs.messages(slog.LevelInfo)
	if len(infos) != 1 || !strings.Contains(infos[0], "connected to pind") {
		t.Errorf("INFO lines after pind started = %q, want one saying it connected", infos)
	}
	if n := len(logs.messages(slog.LevelWarn)); n != 1 {
		t.Errorf("%d WARN lines in all, want 1", n)
	}
}

// TestSnapshotFileWrittenOffTheStream: a slow snapshot file write (a
// saturated disk, an fsync taking seconds) neither holds up the pins nor
// gets one write per update: the writes are coalesced.
func TestSnapshotFileWrittenOffTheStream(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPind(t, c, "pind-0", "")
	admin := p.admin(t)
	setPin(t, admin, svcA, "acme.volume.v1=1.3", true)

	file := filepath.Join(t.TempDir(), "pins.json")
	ev := &events{}
	cl, err := NewClient([]string{p.addr}, WithInsecure(), WithLogger(quietLog), WithSnapshotFile(file), WithMetrics(ev))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	defer unblock() // before Close, even when the test fails
	var writes atomic.Int64
	var last atomic.Int64
	cl.save = func(path string, s *Snapshot) error {
		if writes.Add(1) == 1 {
			<-release // the first write hangs until the test lets it go
		}
		last.Store(s.Revision())
		return writeSnapshotFile(path, s)
	}
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	waitSync(t, cl)
	eventually(t, "the first write started", func() bool { return writes.Load() == 1 })
	for _, v := range []string{"1.4", "1.5", "1.6", "1.7", "1.8"} {
		setPin(t, admin, svcA, "acme.volume.v1="+v, true)
		eventually(t, "client sees pin "+v+" while the file write hangs", func() bool { return capIs(cl, svcA, "acme.volume.v1="+v) })
	}
	unblock()
	rev := cl.Snapshot().Revision()
	eventually(t, "the latest snapshot reaches the file", func() bool { return last.Load() == rev })
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if n, batches := writes.Load(), ev.applied.Load(); n >= batches {
		t.Errorf("%d snapshot file writes for %d applied batches, want fewer (coalesced)", n, batches)
	}
	s, err := readSnapshotFile(file, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := s.Cap(svcA); !ok || m.String() != "acme.volume.v1=1.8" {
		t.Errorf("snapshot file caps %s at %v, %v, want acme.volume.v1=1.8", svcA, m, ok)
	}
}

// TestDefaultBackoffWellUnderLeaseTTL: the longest wait between two
// attempts is a small part of pind's lease TTL, so that a registration lost
// to an outage is tried again several times within one TTL.
func TestDefaultBackoffWellUnderLeaseTTL(t *testing.T) {
	if DefaultBackoffMax*4 > pinsvc.DefaultLeaseTTL {
		t.Errorf("DefaultBackoffMax = %v, want at most a quarter of pind's default lease TTL %v", DefaultBackoffMax, pinsvc.DefaultLeaseTTL)
	}
	c := &Client{o: evaluateOptions(nil)}
	for n := range 64 {
		if d := c.backoff(n); d > DefaultBackoffMax || d <= 0 {
			t.Fatalf("backoff(%d) = %v, want in (0, %v]", n, d, DefaultBackoffMax)
		}
	}
}

// A register token travels as per-RPC credentials that gRPC sends only over
// a secure transport: NewClient refuses WithToken over WithInsecure unless
// WithInsecureToken says plaintext is meant (a pind on loopback). With it,
// pind receives the token and registers the instance; a wrong token is
// refused for good.
func TestTokenNeedsTransportSecurity(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPindWith(t, c, "pind-0", "", false, []pinsvc.Option{pinsvc.WithRegisterToken("s3cret")})
	reg := func(id string) Option {
		return WithRegistration(Registration{ID: id, Services: []string{svcA}, Manifest: mustManifest(t, "acme.volume.v1=1.3")})
	}
	if cl, err := NewClient([]string{p.addr}, WithInsecure(), WithToken("s3cret"), reg("i1")); !errors.Is(err, ErrInsecureToken) {
		if cl != nil {
			cl.Close()
		}
		t.Fatalf("NewClient(WithInsecure, WithToken) = %v, want ErrInsecureToken", err)
	}

	cl := newTestClient(t, []string{p.addr}, WithToken("s3cret"), WithInsecureToken(), reg("i1"))
	waitSync(t, cl)
	eventually(t, "i1 registered with the token", func() bool {
		ids := p.instanceIDs(svcA)
		return len(ids) == 1 && ids[0] == "i1"
	})

	bad := newTestClient(t, []string{p.addr}, WithToken("wrong"), WithInsecureToken(), reg("i2"))
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err := bad.WaitForSync(ctx)
	if code := status.Code(err); code != codes.PermissionDenied && code != codes.Unauthenticated {
		t.Fatalf("WaitForSync with a wrong token = %v, want PERMISSION_DENIED or UNAUTHENTICATED", err)
	}
	if ids := p.instanceIDs(svcA); len(ids) != 1 {
		t.Errorf("instances after a wrong token = %v, want only i1", ids)
	}
}
