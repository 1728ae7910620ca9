package pinclient

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Test timings: short settle and TTL; waits are bounded, never asserted.
const (
	testSettle = 300 * time.Millisecond
	testTTL    = 4 * time.Second
	waitFor    = 15 * time.Second
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// testPind is one real pind: a pinsvc.Server on its own etcd client behind
// a real gRPC server.
type testPind struct {
	srv  *pinsvc.Server
	gs   *grpc.Server
	cli  *clientv3.Client
	addr string // gRPC target
	done chan struct{}
}

// startPind starts a pind on addr ("" picks a free loopback port; a
// "unix://" target listens on that socket) against the etcd cluster c, with
// its own etcd client (so that crash can cut it off) and the gRPC server
// options sopts (interceptors in front of pind).
func startPind(t testing.TB, c *etcdtest.Cluster, name, addr string, sopts ...grpc.ServerOption) *testPind {
	t.Helper()
	return startPindWith(t, c, name, addr, false, nil, sopts...)
}

// startPindWith is startPind with pinsvc options added to the defaults and,
// with health, the gRPC health service the Server reports to (which
// Clients probe).
func startPindWith(t testing.TB, c *etcdtest.Cluster, name, addr string, health bool, popts []pinsvc.Option, sopts ...grpc.ServerOption) *testPind {
	t.Helper()
	network, laddr, target := "tcp", addr, addr
	switch {
	case addr == "":
		laddr = "127.0.0.1:0"
	case strings.HasPrefix(addr, "unix://"):
		network, laddr = "unix", strings.TrimPrefix(addr, "unix://")
	}
	var lis net.Listener
	var err error
	for i := 0; i < 50; i++ { // a port just released by a stopped pind may linger briefly
		if lis, err = net.Listen(network, laddr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	if network == "tcp" {
		target = lis.Addr().String()
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
	popts = append([]pinsvc.Option{pinsvc.WithSettle(testSettle), pinsvc.WithLeaseTTL(testTTL), pinsvc.WithName(name), pinsvc.WithServerLogger(quietLog)}, popts...)
	srv, err := pinsvc.NewServer(cli, popts...)
	if err != nil {
		t.Fatalf("pinsvc.NewServer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("Server.Start: %v", err)
	}
	gs := grpc.NewServer(sopts...)
	rollpinv1.RegisterPinServiceServer(gs, srv)
	if health {
		hs := grpchealth.NewServer()
		healthpb.RegisterHealthServer(gs, hs)
		srv.ReportHealth(hs)
	}
	p := &testPind{srv: srv, gs: gs, cli: cli, addr: target, done: make(chan struct{})}
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

// instanceIDs returns the ids of the live instances of service as p sees
// them.
func (p *testPind) instanceIDs(service string) []string {
	v := p.srv.Snapshot().Service(service)
	if v == nil {
		return nil
	}
	var ids []string
	for _, in := range v.Instances {
		ids = append(ids, in.GetId())
	}
	return ids
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

func mustManifest(t testing.TB, s string) backport.Manifest {
	t.Helper()
	m, err := backport.ParseManifest(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
