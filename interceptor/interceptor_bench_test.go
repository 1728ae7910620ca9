package interceptor_test

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/interceptor"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

// benchRequest is a ~1 KB request that sets the fields added in 1.2, so that
// a 1.1 cap has work to do (label dropped, thin dropped, NVME → SSD).
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

func TestBenchRequestIsAboutOneKB(t *testing.T) {
	if n := proto.Size(benchRequest()); n < 950 || n > 1100 {
		t.Errorf("benchmark request is %d bytes, want about 1 KB", n)
	}
}

var benchNets = []struct {
	name string
	net  network
}{{"bufconn", bufNet}, {"tcp", tcpNet}}

// BenchmarkUnary measures whole unary calls: no interceptors, rollpin with a
// pin that covers everything, and rollpin downgrading every request to 1.1
// (the server fills defaults).
func BenchmarkUnary(b *testing.B) {
	for _, n := range benchNets {
		for _, mode := range []struct {
			name    string
			rollpin bool
			pin     backport.Manifest
		}{{"bare", false, backport.Manifest{}}, {"fastpath", true, v12}, {"downgrade", true, v11}} {
			b.Run("net="+n.name+"/mode="+mode.name, func(b *testing.B) {
				cli := benchClient(b, n.net, mode.rollpin, mode.pin)
				req := benchRequest()
				ctx := context.Background()
				if _, err := cli.Create(ctx, req); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := cli.Create(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkBidi measures messages per second on one bidi stream (one request
// and one response per iteration).
func BenchmarkBidi(b *testing.B) {
	for _, n := range benchNets {
		for _, mode := range []struct {
			name    string
			rollpin bool
			pin     backport.Manifest
		}{{"bare", false, backport.Manifest{}}, {"fastpath", true, v12}, {"downgrade", true, v11}} {
			b.Run("net="+n.name+"/mode="+mode.name, func(b *testing.B) {
				cli := benchClient(b, n.net, mode.rollpin, mode.pin)
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

// benchServer echoes the request without recording it.
type benchServer struct {
	itestv1.UnimplementedVolumeServiceServer
	vol *itestv1.Volume
}

func (s *benchServer) Create(context.Context, *itestv1.CreateRequest) (*itestv1.Volume, error) {
	return s.vol, nil
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

func benchClient(b *testing.B, n network, rollpin bool, pin backport.Manifest) itestv1.VolumeServiceClient {
	var sopts []grpc.ServerOption
	var copts []grpc.DialOption
	if rollpin {
		sopts = append(sopts,
			grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(interceptor.StreamServerInterceptor()))
		copts = rollpinClient(interceptor.StaticPins{service: pin})
	}
	srv := grpc.NewServer(sopts...)
	itestv1.RegisterVolumeServiceServer(srv, &benchServer{vol: volumeOf(benchRequest())})
	dial := serve(b, n, srv)
	return itestv1.NewVolumeServiceClient(dial(copts...))
}

// fakeTransportStream stands in for the server transport so that
// grpc.SetHeader works outside a server.
type fakeTransportStream struct{}

func (fakeTransportStream) Method() string               { return mCreate }
func (fakeTransportStream) SetHeader(metadata.MD) error  { return nil }
func (fakeTransportStream) SendHeader(metadata.MD) error { return nil }
func (fakeTransportStream) SetTrailer(metadata.MD) error { return nil }
func noopInvoker(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
	return nil
}

// serverContext is what a server interceptor sees: the transport stream and
// the incoming metadata of a typical gRPC request plus the rollpin headers.
func serverContext(kv ...string) context.Context {
	md := metadata.Pairs(
		":authority", "127.0.0.1:50051",
		"content-type", "application/grpc",
		"user-agent", "grpc-go/1.85.0",
		"grpc-accept-encoding", "gzip",
	)
	for i := 0; i < len(kv); i += 2 {
		md.Append(kv[i], kv[i+1])
	}
	ctx := grpc.NewContextWithServerTransportStream(context.Background(), fakeTransportStream{})
	return metadata.NewIncomingContext(ctx, md)
}

// BenchmarkOwnWork measures only the interceptors' own work: the client
// interceptor with a no-op invoker, the server interceptor with a no-op
// handler, headers included. side=both runs both per iteration.
func BenchmarkOwnWork(b *testing.B) {
	info := &grpc.UnaryServerInfo{FullMethod: mCreate}
	resp := volumeOf(benchRequest())
	handler := func(context.Context, any) (any, error) { return resp, nil }

	for _, mode := range []struct {
		name string
		pin  backport.Manifest
		kv   []string // headers the server receives
	}{
		{"fastpath", v12, []string{interceptor.HeaderVersion, v12.String()}},
		{"downgrade", v11, []string{interceptor.HeaderVersion, v12.String(), interceptor.HeaderCap, v11.String()}},
	} {
		client := interceptor.UnaryClientInterceptor(interceptor.StaticPins{service: mode.pin})
		server := interceptor.UnaryServerInterceptor()
		sctx := serverContext(mode.kv...)
		req := benchRequest()
		// What the server receives under this pin.
		sent, err := backport.Downgrade(req, mode.pin)
		if err != nil {
			b.Fatal(err)
		}
		sreq := sent.(*itestv1.CreateRequest)
		reply := &itestv1.Volume{}

		b.Run("side=client/path="+mode.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := client(ctx, mCreate, req, reply, nil, noopInvoker); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("side=server/path="+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sreq.Thin = false // undo the previous iteration's filled default
				if _, err := server(sctx, sreq, info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("side=both/path="+mode.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := client(ctx, mCreate, req, reply, nil, noopInvoker); err != nil {
					b.Fatal(err)
				}
				sreq.Thin = false
				if _, err := server(sctx, sreq, info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEngine measures the backport engine alone on the same request,
// the budget of the interceptors' downgrade path.
func BenchmarkEngine(b *testing.B) {
	b.Run("op=Downgrade", func(b *testing.B) {
		req := benchRequest()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := backport.Downgrade(req, v11); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=FillDefaults", func(b *testing.B) {
		sent, err := backport.Downgrade(benchRequest(), v11)
		if err != nil {
			b.Fatal(err)
		}
		req := sent.(*itestv1.CreateRequest)
		b.ReportAllocs()
		for b.Loop() {
			req.Thin = false
			if err := backport.FillDefaults(req, v11); err != nil {
				b.Fatal(err)
			}
		}
	})
}
