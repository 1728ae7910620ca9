package interceptor_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/backport/backporttest"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
	"github.com/rollpin/rollpin/interceptor"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

// The benchmarks run two ~1 KB requests:
//
//   - req=itest: this package's test API; at 1.1 a label is dropped, thin is
//     dropped (and filled back by the server) and TIER_NVME becomes TIER_SSD.
//   - req=backport: backporttest.NewBenchRequest, the request of the backport
//     engine's own benchmarks; at backporttest.BenchCapText three fields are
//     cleared (one of them in five repeated items).
//
// mode=bare has no interceptors; mode=fastpath pins the service at the
// current version (nothing to do); mode=downgrade pins it below.

// benchRequest is the itest request.
func benchRequest() *itestv1.CreateRequest {
	return &itestv1.CreateRequest{
		Name:    "benchmark-volume-0001",
		SizeGb:  512,
		Tier:    itestv1.Tier_TIER_NVME,
		Tags:    []string{"team=storage", "env=prod", "zone=eu-west-1a", "tier=fast", "owner=benchmarks"},
		Payload: bytes.Repeat([]byte{0xab}, 880),
		Thin:    true,
		Label:   "gold",
	}
}

func TestBenchRequestsAreAboutOneKB(t *testing.T) {
	for _, w := range workloads(t) {
		if n := proto.Size(w.req()); n < 900 || n > 1200 {
			t.Errorf("req=%s is %d bytes, want about 1 KB", w.name, n)
		}
	}
}

// workload is one request type with its method and caps.
type workload struct {
	name    string
	service string
	method  string
	req     func() proto.Message
	reply   func() proto.Message
	fast    backport.Manifest // the current version: nothing to downgrade
	down    backport.Manifest // a cap with work to do
	// register serves the method with a handler that answers resp.
	register func(srv *grpc.Server, resp proto.Message)
}

func workloads(tb testing.TB) []workload {
	bcap, err := backport.ParseManifest(backporttest.BenchCapText)
	if err != nil {
		tb.Fatal(err)
	}
	const bsvc = "rollpin.testpb.svc.v1.VolumeService"
	return []workload{
		{
			name: "itest", service: service, method: mCreate,
			req:   func() proto.Message { return benchRequest() },
			reply: func() proto.Message { return &itestv1.Volume{} },
			fast:  v12, down: v11,
			register: func(srv *grpc.Server, resp proto.Message) {
				itestv1.RegisterVolumeServiceServer(srv, &benchServer{vol: volumeOf(benchRequest())})
			},
		},
		{
			name: "backport", service: bsvc, method: "/" + bsvc + "/Create",
			req:   func() proto.Message { return backporttest.NewBenchRequest() },
			reply: func() proto.Message { return &svcpb.Volume{} },
			fast:  backport.OwnManifest().Restrict(backporttest.SvcTrack, backporttest.TypesTrack),
			down:  bcap,
			register: func(srv *grpc.Server, resp proto.Message) {
				srv.RegisterService(&grpc.ServiceDesc{
					ServiceName: bsvc,
					HandlerType: (*any)(nil),
					Methods: []grpc.MethodDesc{{MethodName: "Create", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
						in := &svcpb.Volume{}
						if err := dec(in); err != nil {
							return nil, err
						}
						h := func(context.Context, any) (any, error) { return resp, nil }
						if ic == nil {
							return h(ctx, in)
						}
						return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/" + bsvc + "/Create"}, h)
					}}},
				}, struct{}{})
			},
		},
	}
}

var benchNets = []struct {
	name string
	net  network
}{{"bufconn", bufNet}, {"tcp", tcpNet}}

type benchMode struct {
	name    string
	rollpin bool
	pin     func(w workload) backport.Manifest
}

var benchModes = []benchMode{
	{"bare", false, func(workload) backport.Manifest { return backport.Manifest{} }},
	{"fastpath", true, func(w workload) backport.Manifest { return w.fast }},
	{"downgrade", true, func(w workload) backport.Manifest { return w.down }},
}

// BenchmarkUnary measures whole unary calls.
func BenchmarkUnary(b *testing.B) {
	for _, w := range workloads(b) {
		for _, n := range benchNets {
			for _, mode := range benchModes {
				b.Run("req="+w.name+"/net="+n.name+"/mode="+mode.name, func(b *testing.B) {
					cc := benchConn(b, w, n.net, mode.rollpin, mode.pin(w))
					req, reply := w.req(), w.reply()
					ctx := context.Background()
					if err := cc.Invoke(ctx, w.method, req, reply); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						if err := cc.Invoke(ctx, w.method, req, reply); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkBidi measures messages per second on one bidi stream (one request
// and one response per iteration) of the itest API.
func BenchmarkBidi(b *testing.B) {
	w := workloads(b)[0]
	for _, n := range benchNets {
		for _, mode := range benchModes {
			b.Run("req=itest/net="+n.name+"/mode="+mode.name, func(b *testing.B) {
				cli := itestv1.NewVolumeServiceClient(benchConn(b, w, n.net, mode.rollpin, mode.pin(w)))
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				st, err := cli.Sync(ctx)
				if err != nil {
					b.Fatal(err)
				}
				req := benchRequest()
				b.ReportAllocs()
				for b.Loop() {
					if err := st.Send(req); err != nil {
						b.Fatal(err)
					}
					if _, err := st.Recv(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				if err := st.CloseSend(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkStreamCall measures whole short streams of the itest API: a
// server-streaming call answered with one message, read to its end (stream
// set-up and tear-down included).
func BenchmarkStreamCall(b *testing.B) {
	w := workloads(b)[0]
	for _, mode := range benchModes {
		b.Run("req=itest/net=bufconn/mode="+mode.name, func(b *testing.B) {
			cli := itestv1.NewVolumeServiceClient(benchConn(b, w, bufNet, mode.rollpin, mode.pin(w)))
			req := benchRequest()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				st, err := cli.Watch(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := st.Recv(); err != nil {
					b.Fatal(err)
				}
				if _, err := st.Recv(); err != io.EOF {
					b.Fatalf("second Recv = %v, want EOF", err)
				}
			}
		})
	}
}

// benchServer answers without recording anything.
type benchServer struct {
	itestv1.UnimplementedVolumeServiceServer
	vol *itestv1.Volume
}

func (s *benchServer) Create(context.Context, *itestv1.CreateRequest) (*itestv1.Volume, error) {
	return s.vol, nil
}

func (s *benchServer) Watch(_ *itestv1.CreateRequest, st grpc.ServerStreamingServer[itestv1.Volume]) error {
	return st.Send(s.vol)
}

func (s *benchServer) Sync(st grpc.BidiStreamingServer[itestv1.CreateRequest, itestv1.Volume]) error {
	for {
		if _, err := st.Recv(); err != nil {
			return nil
		}
		if err := st.Send(s.vol); err != nil {
			return err
		}
	}
}

func benchConn(b *testing.B, w workload, n network, rollpin bool, pin backport.Manifest) *grpc.ClientConn {
	var sopts []grpc.ServerOption
	var copts []grpc.DialOption
	if rollpin {
		sopts = append(sopts,
			grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(interceptor.StreamServerInterceptor()))
		copts = rollpinClient(interceptor.StaticPins{w.service: pin})
	}
	srv := grpc.NewServer(sopts...)
	w.register(srv, w.req())
	return serve(b, n, srv)(copts...)
}

// fakeTransportStream stands in for the server transport so that
// grpc.SetHeader works outside a server.
type fakeTransportStream struct{ method string }

func (f fakeTransportStream) Method() string             { return f.method }
func (fakeTransportStream) SetHeader(metadata.MD) error  { return nil }
func (fakeTransportStream) SendHeader(metadata.MD) error { return nil }
func (fakeTransportStream) SetTrailer(metadata.MD) error { return nil }

func noopInvoker(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
	return nil
}

// serverContext is what a server interceptor sees: the transport stream and
// the incoming metadata of a typical gRPC request plus the rollpin headers.
func serverContext(method string, kv ...string) context.Context {
	md := metadata.Pairs(
		":authority", "127.0.0.1:50051",
		"content-type", "application/grpc",
		"user-agent", "grpc-go/1.85.0",
		"grpc-accept-encoding", "gzip",
	)
	for i := 0; i < len(kv); i += 2 {
		md.Append(kv[i], kv[i+1])
	}
	ctx := grpc.NewContextWithServerTransportStream(context.Background(), fakeTransportStream{method})
	return metadata.NewIncomingContext(ctx, md)
}

// serverRequest is req as a server receives it from a client pinned at pin,
// and a reset that clears the default the server fills in it (itest's thin)
// so that every iteration fills it again.
func serverRequest(b *testing.B, req proto.Message, pin backport.Manifest) (proto.Message, func()) {
	sreq, err := backport.Downgrade(req, pin)
	if err != nil {
		b.Fatal(err)
	}
	if r, ok := sreq.(*itestv1.CreateRequest); ok {
		return sreq, func() { r.Thin = false }
	}
	return sreq, func() {}
}

// BenchmarkOwnWork measures only the interceptors' own work: the client
// interceptor with a no-op invoker, the server interceptor with a no-op
// handler, headers included. side=both runs both per iteration. On the
// downgrade path the server receives the downgraded request; the defaults it
// fills stay set after the first iteration (as in BenchmarkEngine's
// FillDefaults), except itest's thin, which is cleared each time.
func BenchmarkOwnWork(b *testing.B) {
	for _, w := range workloads(b) {
		info := &grpc.UnaryServerInfo{FullMethod: w.method}
		resp := w.req()
		handler := func(context.Context, any) (any, error) { return resp, nil }
		own := w.fast.String()
		for _, mode := range []struct {
			name string
			pin  backport.Manifest
			kv   []string // headers the server receives
		}{
			{"fastpath", w.fast, []string{interceptor.HeaderVersion, own}},
			{"downgrade", w.down, []string{interceptor.HeaderVersion, own, interceptor.HeaderCap, w.down.String()}},
		} {
			client := interceptor.UnaryClientInterceptor(interceptor.StaticPins{w.service: mode.pin})
			server := interceptor.UnaryServerInterceptor()
			sctx := serverContext(w.method, mode.kv...)
			req, reply := w.req(), w.reply()
			sreq, reset := serverRequest(b, req, mode.pin)
			b.Run("req="+w.name+"/side=client/path="+mode.name, func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if err := client(ctx, w.method, req, reply, nil, noopInvoker); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("req="+w.name+"/side=server/path="+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					reset()
					if _, err := server(sctx, sreq, info, handler); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("req="+w.name+"/side=both/path="+mode.name, func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if err := client(ctx, w.method, req, reply, nil, noopInvoker); err != nil {
						b.Fatal(err)
					}
					reset()
					if _, err := server(sctx, sreq, info, handler); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		// budget is the target of the downgrade path in the same shape as
		// side=both: the fast path of both interceptors plus the engine's
		// work of a downgraded call (Downgrade on the client, FillDefaults
		// on the server), interleaved the same way.
		b.Run("req="+w.name+"/side=both/path=budget", func(b *testing.B) {
			client := interceptor.UnaryClientInterceptor(interceptor.StaticPins{w.service: w.fast})
			server := interceptor.UnaryServerInterceptor()
			sctx := serverContext(w.method, interceptor.HeaderVersion, w.fast.String())
			req, reply := w.req(), w.reply()
			sreq, reset := serverRequest(b, req, w.down)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := client(ctx, w.method, req, reply, nil, noopInvoker); err != nil {
					b.Fatal(err)
				}
				if _, err := backport.Downgrade(req, w.down); err != nil {
					b.Fatal(err)
				}
				reset()
				if _, err := server(sctx, sreq, info, handler); err != nil {
					b.Fatal(err)
				}
				if err := backport.FillDefaults(sreq, w.down); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEngine measures the backport engine alone on the same requests:
// the budget of the interceptors' downgrade path.
func BenchmarkEngine(b *testing.B) {
	for _, w := range workloads(b) {
		b.Run("req="+w.name+"/op=Downgrade", func(b *testing.B) {
			req := w.req()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := backport.Downgrade(req, w.down); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("req="+w.name+"/op=FillDefaults", func(b *testing.B) {
			sent, reset := serverRequest(b, w.req(), w.down)
			b.ReportAllocs()
			for b.Loop() {
				reset()
				if err := backport.FillDefaults(sent, w.down); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
