package pinsvc

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/internal/netfault"
	"github.com/rollpin/rollpin/pinsvc/pinclient"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// startPindOn starts a pind on its own etcd client for endpoints, with a
// health server the Server reports to, behind a real gRPC server on
// loopback.
func startPindOn(t testing.TB, endpoints []string, name string, opts ...Option) (*testPind, *health.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return servePind(t, lis, endpoints, append([]Option{WithName(name), WithServerLogger(quietLog)}, opts...), true)
}

func healthOf(t testing.TB, p *testPind) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	defer cc.Close()
	r, err := healthpb.NewHealthClient(cc).Check(ctxT(t), &healthpb.HealthCheckRequest{Service: rollpinv1.PinService_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	return r.GetStatus()
}

// streamEnd receives from a stream until it ends and returns the error.
func streamEnd[T any](recv func() (T, error)) <-chan error {
	ch := make(chan error, 1)
	go func() {
		for {
			if _, err := recv(); err != nil {
				ch <- err
				return
			}
		}
	}()
	return ch
}

func wantStreamEnd(t testing.TB, what string, ch <-chan error, want codes.Code) {
	t.Helper()
	select {
	case err := <-ch:
		wantCode(t, what, err, want)
	case <-time.After(waitFor):
		t.Fatalf("%s: still open %v after the cut", what, waitFor)
	}
}

// A pind cut off from etcd while etcd keeps serving the other pind: it
// reports NOT_SERVING, ends its Register and WatchPins streams with
// UNAVAILABLE, its instances register through the other pind before their
// old lease expires, and the other pind's controller never raises the pin
// above the still-live older instance. Close does not hang.
func TestPindCutOffFromEtcd(t *testing.T) {
	t.Parallel()
	const ttl = 4 * time.Second
	cluster := etcdtest.Start(t)
	etcdCli := cluster.Client(t)
	proxy := netfault.NewProxy(t, strings.TrimPrefix(cluster.Endpoints()[0], "http://"))
	cfg := []Option{WithSettle(testSettle), WithLeaseTTL(ttl)}
	b, _ := startPindOn(t, cluster.Endpoints(), "pind-b", cfg...)
	eventually(t, "pind-b leads the controller", func() bool { return controllerOf(t, b).IsLeader() })
	a, _ := startPindOn(t, []string{"http://" + proxy.Addr()}, "pind-a", cfg...)
	if got := healthOf(t, a); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("pind-a health before the cut = %v, want SERVING", got)
	}

	setPin(t, b.admin(t), testSvc, "1.3", true)
	if _, err := register(t, b.admin(t), "new", "acme.volume.v1=1.4", testSvc); err != nil {
		t.Fatalf("Register(new) on pind-b: %v", err)
	}
	// The old instance registers through pind-a first (its first endpoint).
	old := newTestClient(t, []string{a.addr, b.addr}, pinclient.WithRegistration(pinclient.Registration{
		ID: "old", Manifest: mustManifest(t, "acme.volume.v1=1.3"), Services: []string{testSvc}, Build: "test",
	}))
	waitSync(t, old)
	eventually(t, "old registered through pind-a", func() bool { return a.srv.Registrations() == 1 })
	key := DefaultPrefix + "instances/" + testSvc + "/old"
	resp, err := etcdCli.Get(ctxT(t), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("old's key = %v, %v", resp, err)
	}
	leaseA := clientv3.LeaseID(resp.Kvs[0].Lease)

	ac := a.admin(t)
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	ws, err := ac.WatchPins(wctx, &rollpinv1.WatchPinsRequest{})
	if err != nil {
		t.Fatalf("WatchPins on pind-a: %v", err)
	}
	rs, err := ac.Register(wctx, &rollpinv1.RegisterRequest{
		Instance: &rollpinv1.Instance{Id: "raw", Manifest: "acme.volume.v1=1.4", Build: "test"},
		Services: []string{testSvc},
	})
	if err != nil {
		t.Fatalf("Register(raw) on pind-a: %v", err)
	}
	if _, err := rs.Recv(); err != nil {
		t.Fatalf("Register(raw) on pind-a: %v", err)
	}
	watchEnd, regEnd := streamEnd(ws.Recv), streamEnd(rs.Recv)
	bw := watch(t, b.admin(t), 0)

	proxy.Partition()

	wantStreamEnd(t, "WatchPins on the cut pind", watchEnd, codes.Unavailable)
	wantStreamEnd(t, "Register on the cut pind", regEnd, codes.Unavailable)
	if got := healthOf(t, a); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("cut pind health = %v, want NOT_SERVING", got)
	}
	if st, err := ac.WatchPins(ctxT(t), &rollpinv1.WatchPinsRequest{}); err != nil {
		wantCode(t, "new WatchPins on the cut pind", err, codes.Unavailable)
	} else {
		_, err = st.Recv()
		wantCode(t, "new WatchPins on the cut pind", err, codes.Unavailable)
	}

	eventually(t, "old registered again through pind-b", func() bool {
		r, err := etcdCli.Get(ctxT(t), key)
		return err == nil && len(r.Kvs) == 1 && clientv3.LeaseID(r.Kvs[0].Lease) != leaseA
	})
	eventually(t, "pind-a's lease expired in etcd", func() bool {
		r, err := etcdCli.TimeToLive(ctxT(t), leaseA)
		return err == nil && r.TTL == -1
	})
	// Many settle windows after the old lease's expiry: the pin stayed below
	// old, which never left pind-b's view.
	time.Sleep(10 * testSettle)
	if v := b.srv.Snapshot().Service(testSvc); v == nil || v.PinManifest.String() != "acme.volume.v1=1.3" {
		t.Fatalf("pind-b's view after the cut = %+v, want the pin at 1.3", v)
	}
	if st := b.srv.Snapshot(); !strings.Contains(describeInstances(st.Service(testSvc).Instances), "old") {
		t.Fatalf("pind-b's instances after the cut = %s, want old among them", describeInstances(st.Service(testSvc).Instances))
	}
	bw.mu.Lock()
	defer bw.mu.Unlock()
	for _, u := range bw.updates {
		for _, s := range u.GetServices() {
			if s.GetPin().GetManifest() == "acme.volume.v1=1.4" {
				t.Fatalf("pind-b raised the pin to 1.4 at revision %d while old (1.3) was live", u.GetRevision())
			}
		}
	}

	closed := make(chan struct{})
	go func() {
		a.srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(waitFor):
		t.Fatalf("Close of the cut pind still running after %v", waitFor)
	}
}

// With etcd unreachable, a Register waiting for the lease grant holds
// nothing: another Register gives up at its own deadline, and Close returns
// without waiting for etcd.
func TestLeaseGrantDoesNotBlockCloseOrOtherRegistrations(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t)
	proxy := netfault.NewProxy(t, strings.TrimPrefix(cluster.Endpoints()[0], "http://"))
	// A long TTL: etcd calls are bounded by half of it, far beyond the test.
	a, _ := startPindOn(t, []string{"http://" + proxy.Addr()}, "pind-a", WithLeaseTTL(5*time.Minute))
	proxy.Partition()
	ac := a.admin(t)
	req := &rollpinv1.RegisterRequest{
		Instance: &rollpinv1.Instance{Id: "first", Manifest: "acme.volume.v1=1.4", Build: "test"},
		Services: []string{testSvc},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := ac.Register(ctx, req)
	if err != nil {
		t.Fatalf("Register(first): %v", err)
	}
	firstEnd := streamEnd(first.Recv)
	eventually(t, "the first registration waits for the lease grant", func() bool {
		a.srv.lease.mu.Lock()
		defer a.srv.lease.mu.Unlock()
		return a.srv.lease.granting != nil
	})

	dctx, dcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer dcancel()
	req.Instance.Id = "second"
	second, err := ac.Register(dctx, req)
	if err == nil {
		_, err = second.Recv()
	}
	wantCode(t, "Register(second) with a deadline while the grant hangs", err, codes.DeadlineExceeded)

	closed := make(chan error, 1)
	go func() { closed <- a.srv.Close() }()
	select {
	case <-closed:
	case <-time.After(waitFor):
		t.Fatalf("Close still running %v after it was called, etcd unreachable and a grant in flight", waitFor)
	}
	wantStreamEnd(t, "Register(first) after Close", firstEnd, codes.Unavailable)
}
