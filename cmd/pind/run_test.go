package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

const svc = "acme.volume.v1.VolumeService"

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemon is a pind started with run().
type daemon struct {
	r      ready
	conn   *grpc.ClientConn
	pins   rollpinv1.PinServiceClient
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

func startDaemon(t *testing.T, args []string, env map[string]string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	readyc := make(chan ready, 1)
	go func() {
		d.done <- run(ctx, args, func(k string) string { return env[k] }, d.logs, func(r ready) { readyc <- r })
	}()
	select {
	case d.r = <-readyc:
	case err := <-d.done:
		cancel()
		t.Fatalf("run(%q) = %v before serving; logs:\n%s", args, err, d.logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("run(%q) not ready after 60s; logs:\n%s", args, d.logs)
	}
	conn, err := grpc.NewClient(d.r.GRPC.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	d.conn = conn
	d.pins = rollpinv1.NewPinServiceClient(conn)
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop cancels run (as SIGTERM does) and checks it returned nil.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	d.conn.Close()
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("run returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("run did not return 30s after shutdown")
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestEmbeddedEtcdKeepsPinsAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{
		"PIND_DATA_DIR":       dir, // environment variables configure pind too
		"PIND_METRICS_LISTEN": "127.0.0.1:0",
		"PIND_LOG_FORMAT":     "text",
	}
	d := startDaemon(t, []string{"--listen", "127.0.0.1:0", "--lease-ttl", "2s"}, env)
	if len(d.r.Etcd) != 1 || d.r.Metrics == nil {
		t.Fatalf("ready = %+v, want one embedded etcd endpoint and a metrics address", d.r)
	}

	hc, err := healthpb.NewHealthClient(d.conn).Check(ctx(t), &healthpb.HealthCheckRequest{Service: rollpinv1.PinService_ServiceDesc.ServiceName})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", hc, err)
	}
	if _, err := d.pins.SetPin(ctx(t), &rollpinv1.SetPinRequest{Service: svc, Manifest: "1.3", Force: true, Reason: "first"}); err != nil {
		t.Fatalf("SetPin: %v", err)
	}
	resp, err := http.Get("http://" + d.r.Metrics.String() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"rollpin_pind_pins 1", `rollpin_pind_writes_total{code="OK",rpc="SetPin"} 1`, "rollpin_pind_subscribers", "rollpin_pind_watch_lag_seconds_bucket", "grpc_server_handled_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	d.stop(t)
	if !strings.Contains(d.logs.String(), "pind shutting down") {
		t.Errorf("logs lack the shutdown line:\n%s", d.logs)
	}

	d2 := startDaemon(t, []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--lease-ttl", "2s"}, nil)
	gp, err := d2.pins.GetPins(ctx(t), &rollpinv1.GetPinsRequest{Service: svc})
	if err != nil {
		t.Fatalf("GetPins after restart: %v", err)
	}
	if got := gp.GetServices()[0].GetPin(); got.GetManifest() != "acme.volume.v1=1.3" || got.GetReason() != "first" {
		t.Fatalf("pin after restart = %v, want acme.volume.v1=1.3 (reason first)", got)
	}
}

func TestExternalEtcdAndToken(t *testing.T) {
	t.Parallel()
	c := etcdtest.Start(t)
	d := startDaemon(t, []string{"--listen", "127.0.0.1:0", "--etcd-endpoints", strings.Join(c.Endpoints(), ","), "--lease-ttl", "2s", "--prefix", "/custom", "--insecure-token"},
		map[string]string{"PIND_ADMIN_TOKEN": "tok"})
	req := &rollpinv1.SetPinRequest{Service: svc, Manifest: "1.3", Force: true}
	_, err := d.pins.SetPin(ctx(t), req)
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("SetPin without the token: %v, want UNAUTHENTICATED", err)
	}
	if _, err := d.pins.SetPin(metadata.AppendToOutgoingContext(ctx(t), "authorization", "Bearer tok"), req); err != nil {
		t.Fatalf("SetPin with the token: %v", err)
	}
	got, err := c.Client(t).Get(ctx(t), "/custom/pins/"+svc)
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("pin key under --prefix /custom: %v, %v", got, err)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string // error substring; empty: no error
	}{
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{nil, map[string]string{"PIND_SETTLE": "soon"}, "PIND_SETTLE"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{[]string{"--tls-ca", "ca.pem"}, nil, "--tls-ca needs --tls-cert"},
		{[]string{"--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent-key.pem"}, nil, "--tls-cert"},
		{[]string{"--writer-identities", "ops"}, nil, "--writer-identities needs --tls-ca"},
		{[]string{"--register-identities", "volume=acme.volume.v1.*"}, nil, "--register-identities needs --tls-ca"},
		{[]string{"--admin-token", "tok"}, nil, "--insecure-token"},
		{nil, map[string]string{"PIND_REGISTER_TOKEN": "tok"}, "--insecure-token"},
		{[]string{"--register-identities", "volume", "--tls-ca", "ca.pem"}, nil, "not identity=pattern"},
	} {
		args := append([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
		err := run(ctx(t), args, func(k string) string { return tc.env[k] }, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q, env %v) = %v, want an error containing %q", tc.args, tc.env, err, tc.want)
		}
	}
	o, err := parseFlags([]string{"--settle", "5s"}, func(k string) string {
		return map[string]string{"PIND_SETTLE": "9s", "PIND_ETCD_ENDPOINTS": "http://e:2379", "XDG_STATE_HOME": "/state"}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.settle != 5*time.Second || o.etcdEndpoints != "http://e:2379" || o.dataDir != "/state/rollpin/pind" {
		t.Errorf("parseFlags = settle %v, endpoints %q, data dir %q; want 5s (flag wins), http://e:2379 (env), /state/rollpin/pind", o.settle, o.etcdEndpoints, o.dataDir)
	}
}

func ctxCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
