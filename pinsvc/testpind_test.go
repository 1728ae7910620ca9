package pinsvc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Test timings: short settle and TTL; waits are bounded, never asserted.
const (
	testSettle = 300 * time.Millisecond
	testTTL    = 4 * time.Second
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
	opts := append([]Option{WithSettle(testSettle), WithLeaseTTL(testTTL), WithName(name), WithServerLogger(quietLog)}, tune...)
	p, _ := servePind(t, lis, c.Endpoints(), opts, false)
	return p
}

// servePind starts a pind with opts on its own etcd client for endpoints
// (so that crash can cut it off), behind a real gRPC server on lis, and,
// with withHealth, a health server the Server reports to.
func servePind(t testing.TB, lis net.Listener, endpoints []string, opts []Option, withHealth bool) (*testPind, *health.Server) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
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
	var hs *health.Server
	if withHealth {
		hs = health.NewServer()
		healthpb.RegisterHealthServer(gs, hs)
		srv.ReportHealth(hs)
	}
	p := &testPind{t: t, srv: srv, gs: gs, cli: cli, addr: lis.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		gs.Serve(lis)
	}()
	t.Cleanup(p.stop)
	return p, hs
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
