package pindtest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Pind is a running test pind.
type Pind struct {
	// Server is the pinsvc.Server behind the gRPC server.
	Server *pinsvc.Server
	// Client is a PinService client connected to it.
	Client rollpinv1.PinServiceClient
	// Etcd is the etcd client the Server uses.
	Etcd *clientv3.Client
	// Addr is the gRPC server's host:port.
	Addr string

	stopOnce sync.Once
	stop     func()
}

// Option configures Start.
type Option func(*options)

type options struct {
	etcd        *clientv3.Client
	server      []pinsvc.Option
	grpc        []grpc.ServerOption
	beforeServe func(*grpc.Server)
	clientCreds credentials.TransportCredentials
}

// WithEtcd makes the pind use cli instead of a fresh embedded etcd.
func WithEtcd(cli *clientv3.Client) Option { return func(o *options) { o.etcd = cli } }

// WithServerOptions adds pinsvc options after the defaults (a settle window
// of an hour, so that nothing rises unless the test makes it; a lease TTL
// of 4s; a logger that discards), which they override.
func WithServerOptions(opts ...pinsvc.Option) Option {
	return func(o *options) { o.server = append(o.server, opts...) }
}

// WithGRPCServerOptions adds options of the gRPC server (credentials,
// interceptors).
func WithGRPCServerOptions(opts ...grpc.ServerOption) Option {
	return func(o *options) { o.grpc = append(o.grpc, opts...) }
}

// WithBeforeServe calls fn with the gRPC server after the PinService is
// registered on it and before it serves: to register more services or
// initialise server metrics.
func WithBeforeServe(fn func(*grpc.Server)) Option { return func(o *options) { o.beforeServe = fn } }

// WithClientCredentials sets the transport credentials of Pind.Client
// (default plaintext).
func WithClientCredentials(c credentials.TransportCredentials) Option {
	return func(o *options) { o.clientCreds = c }
}

// Start starts a pind; it stops when the test ends, or at Stop.
func Start(t testing.TB, opts ...Option) *Pind {
	t.Helper()
	o := options{clientCreds: insecure.NewCredentials()}
	for _, fn := range opts {
		fn(&o)
	}
	if o.etcd == nil {
		o.etcd = etcdtest.Start(t).Client(t)
	}
	sopts := append([]pinsvc.Option{
		pinsvc.WithSettle(time.Hour),
		pinsvc.WithLeaseTTL(4 * time.Second),
		pinsvc.WithServerLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}, o.server...)
	srv, err := pinsvc.NewServer(o.etcd, sopts...)
	if err != nil {
		t.Fatalf("pinsvc.NewServer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("pinsvc.Server.Start: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	gs := grpc.NewServer(o.grpc...)
	rollpinv1.RegisterPinServiceServer(gs, srv)
	if o.beforeServe != nil {
		o.beforeServe(gs)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		gs.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(o.clientCreds))
	if err != nil {
		srv.Close()
		gs.Stop()
		t.Fatal(err)
	}
	p := &Pind{Server: srv, Client: rollpinv1.NewPinServiceClient(conn), Etcd: o.etcd, Addr: lis.Addr().String()}
	p.stop = func() {
		conn.Close()
		srv.Close() // ends its streams; the registrations leave at once
		gs.Stop()
		<-served
	}
	t.Cleanup(p.Stop)
	return p
}

// Stop stops the pind; later calls do nothing.
func (p *Pind) Stop() { p.stopOnce.Do(p.stop) }

// Register keeps the instance of req registered through c, with ctx's
// metadata, until leave is called or the test ends. It returns once the
// stream's first update arrived, so pind lists the instance.
func Register(t testing.TB, ctx context.Context, c rollpinv1.PinServiceClient, req *rollpinv1.RegisterRequest) (leave func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	st, err := c.Register(ctx, req)
	if err == nil {
		_, err = st.Recv()
	}
	if err != nil {
		cancel()
		t.Fatalf("Register(%s): %v", req.GetInstance().GetId(), err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := st.Recv(); err != nil {
				return
			}
		}
	}()
	var once sync.Once
	leave = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(leave)
	return leave
}
