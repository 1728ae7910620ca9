package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/internal/pindtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// testToken is the admin token of the test pind.
const testToken = "s3cret"

// testPind is a real pind (pinsvc.Server on an embedded etcd) serving gRPC
// on 127.0.0.1:0.
type testPind struct {
	addr string
	srv  *pinsvc.Server
	cli  rollpinv1.PinServiceClient
	// sneak, when set, is taken and called by the server before handling
	// a SetPin whose reason is "race", with the call's context: it makes a
	// concurrent write happen between pindctl's read and its write, or
	// stalls the call.
	sneak atomic.Pointer[func(ctx context.Context)]
	// stop stops the pind (its instances' registrations end with it).
	stop func()
}

// startPind starts etcd and pind; both stop when the test ends. The settle
// window is long, so nothing changes unless the test changes it.
func startPind(t *testing.T) *testPind {
	t.Helper()
	return startPindOn(t, etcdtest.Start(t).Client(t))
}

// startPindOn starts a pind on the etcd reached by cli; it stops when the
// test ends or when stop is called.
func startPindOn(t *testing.T, cli *clientv3.Client) *testPind {
	t.Helper()
	return startPindWith(t, cli, []pinsvc.Option{pinsvc.WithAdminToken(testToken)}, nil, nil)
}

// startPindWith starts a pind with opts (over a long settle window, a short
// lease and a quiet logger), serving with creds (nil: plaintext); the
// test's own client connects with clientCreds.
func startPindWith(t *testing.T, cli *clientv3.Client, opts []pinsvc.Option, creds, clientCreds credentials.TransportCredentials) *testPind {
	t.Helper()
	p := &testPind{}
	sopts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if r, ok := req.(*rollpinv1.SetPinRequest); ok && r.GetReason() == "race" {
			if fn := p.sneak.Swap(nil); fn != nil {
				(*fn)(ctx)
			}
		}
		return h(ctx, req)
	})}
	if creds != nil {
		sopts = append(sopts, grpc.Creds(creds))
	}
	popts := []pindtest.Option{
		pindtest.WithEtcd(cli),
		pindtest.WithServerOptions(pinsvc.WithLeaseTTL(2 * time.Second)),
		pindtest.WithServerOptions(opts...),
		pindtest.WithServerOptions(pinsvc.WithName("pind-test")),
		pindtest.WithGRPCServerOptions(sopts...),
	}
	if clientCreds != nil {
		popts = append(popts, pindtest.WithClientCredentials(clientCreds))
	}
	pind := pindtest.Start(t, popts...)
	p.addr, p.srv, p.cli, p.stop = pind.Addr, pind.Server, pind.Client, pind.Stop
	return p
}

// register announces a live instance through the Register RPC and waits
// until pind lists it. The instance stays registered until the test ends or
// the returned function is called.
func (p *testPind) register(t *testing.T, id, manifest, service string) (leave func()) {
	t.Helper()
	// pind has an admin token, so registration needs credentials too.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+testToken)
	leave = pindtest.Register(t, ctx, p.cli, &rollpinv1.RegisterRequest{
		Instance: &rollpinv1.Instance{Id: id, Manifest: manifest, Build: "build-" + manifest[strings.IndexByte(manifest, '=')+1:], Address: id + ":9000"},
		Services: []string{service},
	})
	p.waitFor(t, "instance "+id, func(r *rollpinv1.GetPinsResponse) bool {
		for _, s := range r.GetServices() {
			for _, in := range s.GetInstances() {
				if s.GetService() == service && in.GetId() == id {
					return true
				}
			}
		}
		return false
	})
	return leave
}

// waitFor polls GetPins until cond holds (or fails the test after 20 s).
func (p *testPind) waitFor(t *testing.T, what string, cond func(*rollpinv1.GetPinsResponse) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		r, err := p.cli.GetPins(ctx, &rollpinv1.GetPinsRequest{})
		if err == nil && cond(r) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last error %v)", what, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// state returns pind's current state of service (nil when unknown).
func (p *testPind) state(t *testing.T, service string) *rollpinv1.ServiceState {
	t.Helper()
	r, err := p.cli.GetPins(context.Background(), &rollpinv1.GetPinsRequest{})
	if err != nil {
		t.Fatalf("GetPins: %v", err)
	}
	for _, s := range r.GetServices() {
		if s.GetService() == service {
			return s
		}
	}
	return nil
}

// ctl runs pindctl against p with the given extra environment.
func (p *testPind) ctl(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	// The test pind listens on loopback without TLS.
	return pindctl(t, env, append([]string{"--endpoints", p.addr, "--insecure-token"}, args...)...)
}

// admin runs pindctl against p with the admin token from PINDCTL_TOKEN.
func (p *testPind) admin(t *testing.T, args ...string) result {
	t.Helper()
	return p.ctl(t, map[string]string{"PINDCTL_TOKEN": testToken}, args...)
}

// expect checks an invocation's exit code and that stdout or stderr
// contains want.
func expect(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.out, r.err)
	}
	if !strings.Contains(r.out+r.err, want) {
		t.Errorf("output does not contain %q\nstdout: %s\nstderr: %s", want, r.out, r.err)
	}
}
