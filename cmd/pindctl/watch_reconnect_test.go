package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// gate is a real TCP listener on 127.0.0.1:0 whose address outlives the
// pinds serving behind it: while no pind is up it closes every connection
// (as a host without pind refuses), else it hands them to the pind.
type gate struct {
	lis     net.Listener
	refused atomic.Int64 // connections closed while no pind was up

	mu  sync.Mutex
	cur *gateListener // nil: no pind up
}

func newGate(t *testing.T) *gate {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{lis: lis}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			gl := g.cur
			g.mu.Unlock()
			if gl == nil {
				g.refused.Add(1)
				c.Close()
				continue
			}
			select {
			case gl.conns <- c:
			case <-gl.done:
				c.Close()
			}
		}
	}()
	return g
}

// gateListener is what one pind behind the gate serves on.
type gateListener struct {
	g     *gate
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *gateListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *gateListener) Close() error {
	l.once.Do(func() {
		l.g.mu.Lock()
		if l.g.cur == l {
			l.g.cur = nil
		}
		l.g.mu.Unlock()
		close(l.done)
	})
	return nil
}

func (l *gateListener) Addr() net.Addr { return l.g.lis.Addr() }

// serve starts a pind behind the gate on the etcd of cli; the returned
// function stops it (as a crash or a restart does).
func (g *gate) serve(t *testing.T, cli *clientv3.Client) (stop func()) {
	t.Helper()
	srv, err := pinsvc.NewServer(cli, pinsvc.Config{
		AdminToken: testToken, Settle: time.Hour, LeaseTTL: 2 * time.Second, Name: "pind-test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	gs := grpc.NewServer()
	rollpinv1.RegisterPinServiceServer(gs, srv)
	gl := &gateListener{g: g, conns: make(chan net.Conn), done: make(chan struct{})}
	g.mu.Lock()
	g.cur = gl
	g.mu.Unlock()
	served := make(chan struct{})
	go func() { gs.Serve(gl); close(served) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			gl.Close()
			srv.Close()
			gs.Stop()
			<-served
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitRefused waits until the gate has refused n more connections than
// before: the watch kept retrying.
func (g *gate) waitRefused(t *testing.T, n int64) {
	t.Helper()
	want := g.refused.Load() + n
	deadline := time.After(30 * time.Second)
	for g.refused.Load() < want {
		select {
		case <-deadline:
			t.Fatalf("the gate refused %d connections, want %d: watch stopped retrying", g.refused.Load(), want)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// watch, started before pind, waits for it; a pind crash and restart print
// one line each on stderr however many retries happen in between.
func TestWatchSaysOnceWhenItLosesAndRegainsPind(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	g := newGate(t)
	addr := g.lis.Addr().String()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := background(ctx, &out, &errb, "--endpoints", addr, "watch")
	waitOutput(t, &errb, "pindctl: cannot reach pind")
	g.waitRefused(t, 3)

	stop := g.serve(t, cli)
	waitOutput(t, &out, "no services yet")
	waitOutput(t, &errb, "pindctl: reached pind\n")
	env := map[string]string{"PINDCTL_TOKEN": testToken, "PINDCTL_ENDPOINTS": addr}
	expect(t, pindctl(t, env, "pin", "set", volSvc, "1.3", "--force", "--reason", "first"), exitOK, "none -> 1.3")
	waitOutput(t, &out, volSvc+" new pin=1.3")

	stop() // pind crashes
	waitOutput(t, &errb, "pindctl: lost pind")
	g.waitRefused(t, 3)
	g.serve(t, cli) // and comes back
	waitOutput(t, &errb, "pindctl: reached pind again")
	expect(t, pindctl(t, env, "pin", "set", volSvc, "1.4", "--force", "--reason", "second"), exitOK, "1.3 -> 1.4")
	waitOutput(t, &out, volSvc+" pin=1.3->1.4")

	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("watch exit code = %d, want 0 (stderr %q)", code, errb.String())
	}
	lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
	wants := []string{
		"pindctl: cannot reach pind (",
		"pindctl: reached pind",
		"pindctl: lost pind (",
		"pindctl: reached pind again; resumed from revision ",
	}
	if len(lines) != len(wants) {
		t.Fatalf("watch wrote %d lines on stderr, want %d (one per loss and one per return):\n%s", len(lines), len(wants), errb.String())
	}
	for i, want := range wants {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("stderr line %d = %q, want it to start with %q", i+1, lines[i], want)
		}
	}
}
