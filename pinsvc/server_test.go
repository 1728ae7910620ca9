package pinsvc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

const testSvc = "acme.volume.v1.VolumeService"

// testServer is a started Server behind a real gRPC server on bufconn.
type testServer struct {
	srv *Server
	cli rollpinv1.PinServiceClient
	gs  *grpc.Server
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer starts a Server on cli with no controller (tests of the
// controller live apart) and serves it over bufconn.
func startServer(t testing.TB, cli *clientv3.Client, opts ...Option) *testServer {
	t.Helper()
	opts = append([]Option{WithServerLogger(quietLogger()), WithLeaseTTL(4 * time.Second)}, opts...)
	srv, err := NewServer(cli, opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	srv.SetController(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ts := serve(t, srv)
	t.Cleanup(func() {
		srv.Close()
		ts.gs.Stop()
	})
	return ts
}

func serve(t testing.TB, srv *Server) *testServer {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	rollpinv1.RegisterPinServiceServer(gs, srv)
	go gs.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &testServer{srv: srv, cli: rollpinv1.NewPinServiceClient(conn), gs: gs}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t testing.TB, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: code %v (%v), want %v", what, got, err, want)
	}
}

// watcher collects the updates of a WatchPins stream.
type watcher struct {
	mu      sync.Mutex
	updates []*rollpinv1.PinUpdate
	err     error
	cond    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

func watch(t testing.TB, c rollpinv1.PinServiceClient, start int64) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := c.WatchPins(ctx, &rollpinv1.WatchPinsRequest{StartRevision: start})
	if err != nil {
		cancel()
		t.Fatalf("WatchPins: %v", err)
	}
	w := &watcher{cond: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			r, err := st.Recv()
			w.mu.Lock()
			if err != nil {
				w.err = err
			} else {
				w.updates = append(w.updates, r.GetUpdate())
			}
			w.mu.Unlock()
			select {
			case w.cond <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// waitFor waits until pred holds for the updates received so far.
func (w *watcher) waitFor(t testing.TB, what string, pred func([]*rollpinv1.PinUpdate) bool) []*rollpinv1.PinUpdate {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		w.mu.Lock()
		ups := append([]*rollpinv1.PinUpdate(nil), w.updates...)
		err := w.err
		w.mu.Unlock()
		if pred(ups) {
			return ups
		}
		if err != nil {
			t.Fatalf("watch ended while waiting for %s: %v", what, err)
		}
		select {
		case <-w.cond:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %d updates", what, len(ups))
		}
	}
}

// pinsSeen folds updates into service → pin manifest.
func pinsSeen(ups []*rollpinv1.PinUpdate) map[string]string {
	m := map[string]string{}
	for _, u := range ups {
		if u.GetSnapshot() {
			m = map[string]string{}
		}
		for _, s := range u.GetServices() {
			m[s.GetService()] = s.GetPin().GetManifest()
		}
		for _, r := range u.GetRemoved() {
			delete(m, r)
		}
	}
	return m
}

func mustSetPin(t testing.TB, c rollpinv1.PinServiceClient, svc, m string, force bool) *rollpinv1.SetPinResponse {
	t.Helper()
	r, err := c.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: svc, Manifest: m, Force: force, Reason: "test"})
	if err != nil {
		t.Fatalf("SetPin(%s, %s): %v", svc, m, err)
	}
	return r
}

// register opens a Register stream and waits for its first update.
func register(t testing.TB, c rollpinv1.PinServiceClient, id, manifest string, svcs ...string) (context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := c.Register(ctx, &rollpinv1.RegisterRequest{
		Instance: &rollpinv1.Instance{Id: id, Manifest: manifest, Build: "test"},
		Services: svcs,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	if _, err := st.Recv(); err != nil {
		cancel()
		return nil, err
	}
	go func() {
		for {
			if _, err := st.Recv(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(cancel)
	return cancel, nil
}

func TestRPCs(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	c := ts.cli
	w := watch(t, c, 0)

	// A typo never creates a pin.
	_, err := c.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.3"})
	wantCode(t, "SetPin on an unknown service", err, codes.NotFound)
	if !strings.Contains(status.Convert(err).Message(), "--force") {
		t.Errorf("NOT_FOUND message %q does not mention --force", status.Convert(err).Message())
	}

	r := mustSetPin(t, c, testSvc, "1.3", true)
	if !r.GetChanged() || r.GetState().GetPin().GetManifest() != "acme.volume.v1=1.3" {
		t.Fatalf("SetPin(force) = %v, want changed pin acme.volume.v1=1.3", r)
	}
	rev := r.GetState().GetPinRevision()
	if rev == 0 {
		t.Fatalf("SetPin state has pin_revision 0")
	}
	if got := r.GetState().GetPin().GetMode(); got != rollpinv1.PinMode_PIN_MODE_AUTO {
		t.Errorf("new pin mode = %v, want AUTO", got)
	}

	// Register two instances: floor and versions follow.
	if _, err := register(t, c, "i1", "acme.volume.v1=1.3", testSvc); err != nil {
		t.Fatalf("Register i1: %v", err)
	}
	if _, err := register(t, c, "i2", "acme.volume.v1=1.4", testSvc); err != nil {
		t.Fatalf("Register i2: %v", err)
	}
	li, err := c.ListInstances(ctxT(t), &rollpinv1.ListInstancesRequest{Service: testSvc})
	if err != nil || len(li.GetInstances()) != 2 {
		t.Fatalf("ListInstances = %v, %v; want 2 instances", li, err)
	}
	gp, err := c.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{Service: testSvc})
	if err != nil {
		t.Fatalf("GetPins: %v", err)
	}
	s := gp.GetServices()[0]
	if s.GetFloor() != "acme.volume.v1=1.3" || s.GetEffectiveCap() != "acme.volume.v1=1.3" {
		t.Errorf("floor, cap = %q, %q; want acme.volume.v1=1.3 twice", s.GetFloor(), s.GetEffectiveCap())
	}
	if len(s.GetVersions()) != 2 || s.GetVersions()[0].GetManifest() != "acme.volume.v1=1.3" || s.GetVersions()[1].GetInstanceIds()[0] != "i2" {
		t.Errorf("versions = %v, want 1.3:[i1] then 1.4:[i2]", s.GetVersions())
	}

	// Raising above the floor is refused, names the blocker; dry run reports it.
	_, err = c.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.4"})
	wantCode(t, "raise above the floor", err, codes.FailedPrecondition)
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "i1 (acme.volume.v1=1.3)") || !strings.Contains(msg, "--force") {
		t.Errorf("refusal %q does not name i1 and --force", msg)
	}
	dr, err := c.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.4", DryRun: true})
	if err != nil || len(dr.GetBlocking()) != 1 || dr.GetBlocking()[0].GetId() != "i1" || !dr.GetChanged() {
		t.Fatalf("dry run = %v, %v; want blocking [i1], changed", dr, err)
	}
	if gp, _ := c.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{}); gp.GetServices()[0].GetPinRevision() != rev {
		t.Fatalf("dry run wrote: revision %d, want %d", gp.GetServices()[0].GetPinRevision(), rev)
	}
	// Lowering is always allowed; force raises.
	r = mustSetPin(t, c, testSvc, "1.2", false)
	if r.GetState().GetPin().GetManifest() != "acme.volume.v1=1.2" || r.GetState().GetEffectiveCap() != "acme.volume.v1=1.2" {
		t.Fatalf("lower: state %v", r.GetState())
	}
	r = mustSetPin(t, c, testSvc, "1.4", true)
	if r.GetState().GetPin().GetManifest() != "acme.volume.v1=1.4" {
		t.Fatalf("forced raise: state %v", r.GetState())
	}

	// Hold, Release, SetMode with CAS.
	rev = r.GetState().GetPinRevision()
	h, err := c.Hold(ctxT(t), &rollpinv1.HoldRequest{Service: testSvc, Reason: "incident", ExpectedRevision: rev})
	if err != nil || h.GetState().GetPin().GetHold().GetReason() != "incident" {
		t.Fatalf("Hold = %v, %v", h, err)
	}
	if h.GetState().GetRaise().GetState() != rollpinv1.RaiseState_RAISE_STATE_HELD {
		t.Errorf("raise state after Hold = %v, want HELD", h.GetState().GetRaise().GetState())
	}
	_, err = c.Release(ctxT(t), &rollpinv1.ReleaseRequest{Service: testSvc, ExpectedRevision: rev})
	wantCode(t, "Release at a stale revision", err, codes.Aborted)
	rl, err := c.Release(ctxT(t), &rollpinv1.ReleaseRequest{Service: testSvc, ExpectedRevision: h.GetState().GetPinRevision()})
	if err != nil || rl.GetState().GetPin().GetHold() != nil {
		t.Fatalf("Release = %v, %v", rl, err)
	}
	sm, err := c.SetMode(ctxT(t), &rollpinv1.SetModeRequest{Service: testSvc, Mode: rollpinv1.PinMode_PIN_MODE_MANUAL})
	if err != nil || sm.GetState().GetPin().GetMode() != rollpinv1.PinMode_PIN_MODE_MANUAL {
		t.Fatalf("SetMode = %v, %v", sm, err)
	}

	// The watcher saw every change, snapshot first.
	ups := w.waitFor(t, "the MANUAL pin", func(ups []*rollpinv1.PinUpdate) bool {
		for _, u := range ups {
			for _, s := range u.GetServices() {
				if s.GetPin().GetMode() == rollpinv1.PinMode_PIN_MODE_MANUAL {
					return true
				}
			}
		}
		return false
	})
	if !ups[0].GetSnapshot() {
		t.Errorf("first update is not a snapshot: %v", ups[0])
	}
	var seen []string
	for _, u := range ups[1:] {
		if u.GetSnapshot() {
			t.Errorf("unexpected snapshot in the middle: %v", u)
		}
		for _, s := range u.GetServices() {
			seen = append(seen, s.GetPin().GetManifest())
		}
	}
	for _, want := range []string{"acme.volume.v1=1.3", "acme.volume.v1=1.2", "acme.volume.v1=1.4"} {
		if !strings.Contains(strings.Join(seen, " "), want) {
			t.Errorf("watch missed pin %s: saw %v", want, seen)
		}
	}
}

func TestRegisterEndsRemovesInstance(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	cancel, err := register(t, ts.cli, "i1", "acme.volume.v1=1.3", testSvc, "acme.volume.v1.Other")
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if _, err := register(t, ts.cli, "i2", "acme.volume.v1=1.3", testSvc); err != nil {
		t.Fatalf("Register: %v", err)
	}
	waitState(t, ts.srv, "two instances", func(st *State) bool { return numInstances(st, testSvc) == 2 })
	leases, err := cli.Leases(ctxT(t))
	if err != nil || len(leases.Leases) != 1 {
		t.Fatalf("etcd leases = %v, %v; want exactly one for all registrations", leases, err)
	}
	cancel()
	waitState(t, ts.srv, "i1 gone", func(st *State) bool {
		return numInstances(st, testSvc) == 1 && st.Service("acme.volume.v1.Other") == nil
	})
}

// numInstances returns the number of live instances of svc in st.
func numInstances(st *State, svc string) int {
	if v := st.Service(svc); v != nil {
		return len(v.Instances)
	}
	return 0
}

func waitState(t testing.TB, s *Server, what string, pred func(*State) bool) *State {
	t.Helper()
	poke, cancel := s.Subscribe()
	defer cancel()
	deadline := time.After(20 * time.Second)
	for {
		if st := s.Snapshot(); pred(st) {
			return st
		}
		select {
		case <-poke:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}
