package interceptor_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/interceptor"
	"github.com/rollpin/rollpin/interceptor/internal/testapi"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

const (
	service    = "rollpin.itest.v1.VolumeService"
	track      = "rollpin.itest.v1"
	mCreate    = "/" + service + "/Create"
	mUpload    = "/" + service + "/Upload"
	mWatch     = "/" + service + "/Watch"
	mSync      = "/" + service + "/Sync"
	mProvision = "/" + service + "/Provision"
)

var (
	v11 = backport.MustManifest(backport.Entry{Track: track, Version: backport.Version{Major: 1, Minor: 1}})
	v12 = backport.MustManifest(backport.Entry{Track: track, Version: backport.Version{Major: 1, Minor: 2}})
)

// oldFiles is the previous version of the test API, from its descriptor set.
var oldFiles = sync.OnceValues(testapi.OldFiles)

func mustOldFiles(t testing.TB) *protoregistry.Files {
	t.Helper()
	f, err := oldFiles()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// received records what a server's handlers saw, after the interceptors.
type received struct {
	mu    sync.Mutex
	calls atomic.Int64
	msgs  []proto.Message
	md    []metadata.MD
}

func (r *received) add(ctx context.Context, m proto.Message) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, proto.Clone(m))
	r.md = append(r.md, md)
}

func (r *received) all() []proto.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]proto.Message(nil), r.msgs...)
}

func (r *received) last(t testing.TB) proto.Message {
	t.Helper()
	all := r.all()
	if len(all) == 0 {
		t.Fatal("the server received no message")
	}
	return all[len(all)-1]
}

func (r *received) lastMD(t testing.TB) metadata.MD {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.md) == 0 {
		t.Fatal("the server received no message")
	}
	return r.md[len(r.md)-1]
}

// newServer implements the current version of the test API.
type newServer struct {
	itestv1.UnimplementedVolumeServiceServer
	got received
}

func volumeOf(r *itestv1.CreateRequest) *itestv1.Volume {
	v := &itestv1.Volume{Name: r.GetName(), SizeGb: r.GetSizeGb(), Tier: r.GetTier(), Thin: r.GetThin(), Label: r.GetLabel()}
	if r.GetName() == "upgrade-tier" {
		v.Tier = itestv1.Tier_TIER_NVME
		v.Label = "fast"
	}
	return v
}

func (s *newServer) Create(ctx context.Context, r *itestv1.CreateRequest) (*itestv1.Volume, error) {
	s.got.calls.Add(1)
	s.got.add(ctx, r)
	if r.GetName() == "panic" {
		panic("handler panics on purpose")
	}
	return volumeOf(r), nil
}

func (s *newServer) Provision(ctx context.Context, r *itestv1.CreateRequest) (*itestv1.Volume, error) {
	s.got.calls.Add(1)
	s.got.add(ctx, r)
	return volumeOf(r), nil
}

func (s *newServer) Upload(st grpc.ClientStreamingServer[itestv1.CreateRequest, itestv1.Summary]) error {
	s.got.calls.Add(1)
	var sum itestv1.Summary
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return st.SendAndClose(&sum)
		}
		if err != nil {
			return err
		}
		s.got.add(st.Context(), r)
		sum.Count++
		sum.TotalGb += r.GetSizeGb()
	}
}

func (s *newServer) Watch(r *itestv1.CreateRequest, st grpc.ServerStreamingServer[itestv1.Volume]) error {
	s.got.calls.Add(1)
	s.got.add(st.Context(), r)
	for range r.GetSizeGb() {
		if err := st.Send(volumeOf(r)); err != nil {
			return err
		}
	}
	return nil
}

func (s *newServer) Sync(st grpc.BidiStreamingServer[itestv1.CreateRequest, itestv1.Volume]) error {
	s.got.calls.Add(1)
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		s.got.add(st.Context(), r)
		if err := st.Send(volumeOf(r)); err != nil {
			return err
		}
	}
}

// oldServer implements the previous version of the test API with dynamicpb
// messages built from the committed descriptor set: it knows nothing of the
// fields, enum values and methods added in 1.2.
type oldServer struct {
	got     received
	files   *protoregistry.Files
	req     protoreflect.MessageDescriptor
	vol     protoreflect.MessageDescriptor
	summary protoreflect.MessageDescriptor
}

func newOldServer(t testing.TB) *oldServer {
	files := mustOldFiles(t)
	find := func(name string) protoreflect.MessageDescriptor {
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatal(err)
		}
		return d.(protoreflect.MessageDescriptor)
	}
	return &oldServer{
		files:   files,
		req:     find(track + ".CreateRequest"),
		vol:     find(track + ".Volume"),
		summary: find(track + ".Summary"),
	}
}

// volume echoes name, size_gb and tier: the old Volume has nothing else.
func (s *oldServer) volume(r *dynamicpb.Message) *dynamicpb.Message {
	v := dynamicpb.NewMessage(s.vol)
	for _, name := range []protoreflect.Name{"name", "size_gb", "tier"} {
		v.Set(s.vol.Fields().ByName(name), r.Get(s.req.Fields().ByName(name)))
	}
	return v
}

func (s *oldServer) desc() *grpc.ServiceDesc {
	unary := func(name string) grpc.MethodDesc {
		full := "/" + service + "/" + name
		return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := dynamicpb.NewMessage(s.req)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				s.got.calls.Add(1)
				r := req.(*dynamicpb.Message)
				s.got.add(ctx, r)
				return s.volume(r), nil
			}
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, h)
		}}
	}
	return &grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{unary("Create")},
		Streams: []grpc.StreamDesc{
			{StreamName: "Upload", ClientStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
				s.got.calls.Add(1)
				var count, total int64
				for {
					r := dynamicpb.NewMessage(s.req)
					err := st.RecvMsg(r)
					if errors.Is(err, io.EOF) {
						sum := dynamicpb.NewMessage(s.summary)
						sum.Set(s.summary.Fields().ByName("count"), protoreflect.ValueOfInt64(count))
						sum.Set(s.summary.Fields().ByName("total_gb"), protoreflect.ValueOfInt64(total))
						return st.SendMsg(sum)
					}
					if err != nil {
						return err
					}
					s.got.add(st.Context(), r)
					count++
					total += r.Get(s.req.Fields().ByName("size_gb")).Int()
				}
			}},
			{StreamName: "Watch", ServerStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
				s.got.calls.Add(1)
				r := dynamicpb.NewMessage(s.req)
				if err := st.RecvMsg(r); err != nil {
					return err
				}
				s.got.add(st.Context(), r)
				for range r.Get(s.req.Fields().ByName("size_gb")).Int() {
					if err := st.SendMsg(s.volume(r)); err != nil {
						return err
					}
				}
				return nil
			}},
			{StreamName: "Sync", ClientStreams: true, ServerStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
				s.got.calls.Add(1)
				for {
					r := dynamicpb.NewMessage(s.req)
					err := st.RecvMsg(r)
					if errors.Is(err, io.EOF) {
						return nil
					}
					if err != nil {
						return err
					}
					s.got.add(st.Context(), r)
					if err := st.SendMsg(s.volume(r)); err != nil {
						return err
					}
				}
			}},
		},
		Metadata: "rollpin/itest/v1/volume.proto",
	}
}

// network is where a test server listens: bufconn or loopback TCP.
type network int

const (
	bufNet network = iota
	tcpNet
)

// serve starts srv on net and returns a dial function for clients.
func serve(t testing.TB, n network, srv *grpc.Server) func(opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	var lis net.Listener
	target := "passthrough:///bufnet"
	var extra []grpc.DialOption
	switch n {
	case bufNet:
		bl := bufconn.Listen(1 << 20)
		lis = bl
		extra = append(extra, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return bl.DialContext(ctx)
		}))
	case tcpNet:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis = l
		target = l.Addr().String()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return func(opts ...grpc.DialOption) *grpc.ClientConn {
		t.Helper()
		all := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, extra...)
		cc, err := grpc.NewClient(target, append(all, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}
}

// startNew serves the current version with rollpin server interceptors.
func startNew(t testing.TB, n network, opts ...interceptor.Option) (*newServer, func(...grpc.DialOption) *grpc.ClientConn) {
	impl := &newServer{}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor(opts...)),
		grpc.ChainStreamInterceptor(interceptor.StreamServerInterceptor(opts...)),
	)
	itestv1.RegisterVolumeServiceServer(srv, impl)
	return impl, serve(t, n, srv)
}

// startOld serves the previous version with rollpin server interceptors
// reading the old descriptors.
func startOld(t testing.TB, n network, opts ...interceptor.Option) (*oldServer, func(...grpc.DialOption) *grpc.ClientConn) {
	impl := newOldServer(t)
	opts = append([]interceptor.Option{interceptor.WithFiles(impl.files)}, opts...)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor(opts...)),
		grpc.ChainStreamInterceptor(interceptor.StreamServerInterceptor(opts...)),
	)
	srv.RegisterService(impl.desc(), struct{}{})
	return impl, serve(t, n, srv)
}

// rollpinClient returns dial options installing the rollpin client interceptors.
func rollpinClient(pins interceptor.PinSource, opts ...interceptor.Option) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(pins, opts...)),
		grpc.WithChainStreamInterceptor(interceptor.StreamClientInterceptor(pins, opts...)),
	}
}

func newOldReply(c *oldClient) *dynamicpb.Message { return dynamicpb.NewMessage(c.vol) }
