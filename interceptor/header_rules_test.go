package interceptor_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport/backporttest"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
	"github.com/rollpin/rollpin/backport/backporttest/typespb"
	"github.com/rollpin/rollpin/interceptor"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

// TestHeaderRules checks the wire protocol's header rules against a real
// server (1.2) with raw metadata from a plain client: a request is never
// assumed newer than what it proves. The request leaves thin unset and the
// handler answers label "gold" and tier NVME, so a request read as 1.1 gets
// thin filled (true) and an answer without label, tier SSD; a request read
// as 1.2 keeps thin false and gets label and NVME.
func TestHeaderRules(t *testing.T) {
	t.Parallel()
	const (
		hv   = interceptor.HeaderVersion
		hc   = interceptor.HeaderCap
		at10 = track + "=1.0"
		at11 = track + "=1.1"
		at12 = track + "=1.2"
	)
	type outcome int
	const (
		readAs12 outcome = iota // served as sent at the server's own version
		readAs11                // served as sent at 1.1
		refused                 // not served; see code
	)
	for _, tc := range []struct {
		name     string
		reject   bool // WithNoHeaders(NoHeadersReject)
		kv       []string
		want     outcome
		code     codes.Code
		contains []string
	}{
		{name: "one version", kv: []string{hv, at11}, want: readAs11},
		{name: "version repeated, newest first", kv: []string{hv, at12, hv, at10},
			want: refused, code: codes.InvalidArgument, contains: []string{"2 values", hv}},
		{name: "version repeated, oldest first", kv: []string{hv, at10, hv, at12},
			want: refused, code: codes.InvalidArgument, contains: []string{"2 values", hv}},
		{name: "version repeated with one value", kv: []string{hv, at11, hv, at11},
			want: refused, code: codes.InvalidArgument, contains: []string{hv}},
		{name: "cap repeated", kv: []string{hv, at12, hc, at12, hc, at11},
			want: refused, code: codes.InvalidArgument, contains: []string{"2 values", hc}},
		{name: "cap without version is sent at the cap", kv: []string{hc, at11}, want: readAs11},
		{name: "cap with an empty version is sent at the cap", kv: []string{hv, "", hc, at11}, want: readAs11},
		{name: "cap without version newer than the server", kv: []string{hc, track + "=1.3"},
			want: refused, code: codes.FailedPrecondition, contains: []string{"1.3", "runs 1.2"}},
		{name: "empty version is no header", kv: []string{hv, ""}, want: readAs12},
		{name: "empty version is no header under reject", reject: true, kv: []string{hv, ""},
			want: refused, code: codes.FailedPrecondition, contains: []string{hv, "client interceptors"}},
		{name: "version without the method's track is no header", kv: []string{hv, "other.v1=1.0"}, want: readAs12},
		{name: "version without the method's track is no header under reject", reject: true, kv: []string{hv, "other.v1=1.0"},
			want: refused, code: codes.FailedPrecondition, contains: []string{hv, "client interceptors"}},
		{name: "cap without the method's track is no cap", kv: []string{hv, at11, hc, "other.v1=0.1"}, want: readAs11},
		{name: "empty cap is no cap", kv: []string{hv, at11, hc, ""}, want: readAs11},
		{name: "empty version and cap under reject", reject: true, kv: []string{hv, "", hc, ""},
			want: refused, code: codes.FailedPrecondition, contains: []string{"client interceptors"}},
		{name: "malformed version", kv: []string{hv, track + "=1"},
			want: refused, code: codes.InvalidArgument, contains: []string{hv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []interceptor.Option
			if tc.reject {
				opts = append(opts, interceptor.WithNoHeaders(interceptor.NoHeadersReject))
			}
			srv, dial := startNew(t, bufNet, opts...)
			got, err := rawCall(t, dial(), tc.kv...)
			if tc.want == refused {
				wantCode(t, err, tc.code, tc.contains...)
				if n := srv.got.calls.Load(); n != 0 {
					t.Errorf("handler ran %d times, want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("call with %q = %v, want success", tc.kv, err)
			}
			thin := srv.got.last(t).(*itestv1.CreateRequest).GetThin()
			switch tc.want {
			case readAs11:
				if !thin || got.GetLabel() != "" || got.GetTier() != itestv1.Tier_TIER_SSD {
					t.Errorf("%q: handler got thin=%v, caller got %v; want the request read as 1.1 (thin filled, answer without label, tier SSD)", tc.kv, thin, got)
				}
			case readAs12:
				if thin || got.GetLabel() != "gold" || got.GetTier() != itestv1.Tier_TIER_NVME {
					t.Errorf("%q: handler got thin=%v, caller got %v; want the request read as 1.2 (untouched)", tc.kv, thin, got)
				}
			}
		})
	}
}

// twoVersionsServer answers Create with a second rollpin-version response
// header (1.1) after the one its interceptor set (1.2).
type twoVersionsServer struct {
	itestv1.UnimplementedVolumeServiceServer
}

func (twoVersionsServer) Create(ctx context.Context, r *itestv1.CreateRequest) (*itestv1.Volume, error) {
	if err := grpc.SetHeader(ctx, metadata.Pairs(interceptor.HeaderVersion, track+"=1.1")); err != nil {
		return nil, err
	}
	return &itestv1.Volume{Name: r.GetName()}, nil
}

// TestRepeatedResponseVersion: a response whose rollpin-version header has
// two values does not say which version answered; the client does not pick
// one (the first would be read as 1.2 and leave thin unfilled) but fails the
// call with INTERNAL, as for a malformed header.
func TestRepeatedResponseVersion(t *testing.T) {
	t.Parallel()
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()))
	itestv1.RegisterVolumeServiceServer(srv, twoVersionsServer{})
	cc := serve(t, bufNet, srv)(rollpinClient(interceptor.StaticPins{service: v11})...)
	got, err := itestv1.NewVolumeServiceClient(cc).Create(t.Context(), newRequest())
	if status.Code(err) != codes.Internal {
		t.Fatalf("Create = %v, %v; want INTERNAL for two %s values in the response", got, err, interceptor.HeaderVersion)
	}
	wantCode(t, err, codes.Internal, "2 values", interceptor.HeaderVersion)
}

// TestPartialHeader: a header that names some of a method's tracks proves
// those; the tracks it does not name are read as the server's own (here the
// backport test API's Create, which reaches two tracks: svc and types, where
// Label.color was added in types 2.2 with default COLOR_RED).
func TestPartialHeader(t *testing.T) {
	t.Parallel()
	const (
		bsvc    = "rollpin.testpb.svc.v1.VolumeService"
		bcreate = "/" + bsvc + "/Create"
	)
	got := make(chan *svcpb.Volume, 1)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor(interceptor.WithNoHeaders(interceptor.NoHeadersReject))))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: bsvc,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Create", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := &svcpb.Volume{}
			if err := dec(in); err != nil {
				return nil, err
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: bcreate}, func(_ context.Context, req any) (any, error) {
				got <- req.(*svcpb.Volume)
				return &svcpb.Volume{}, nil
			})
		}}},
	}, struct{}{})
	cc := serve(t, bufNet, srv)()
	for _, tc := range []struct {
		header string
		want   typespb.Color
	}{
		{backporttest.SvcTrack + "=1.4," + backporttest.TypesTrack + "=2.1", typespb.Color_COLOR_RED},
		{backporttest.SvcTrack + "=1.4", typespb.Color_COLOR_UNSPECIFIED},
	} {
		ctx := metadata.AppendToOutgoingContext(t.Context(), interceptor.HeaderVersion, tc.header)
		req := &svcpb.Volume{Name: "v", Label: &typespb.Label{Key: "k"}}
		if err := cc.Invoke(ctx, bcreate, req, &svcpb.Volume{}); err != nil {
			t.Fatalf("%s: %v, want accepted (even under NoHeadersReject)", tc.header, err)
		}
		if c := (<-got).GetLabel().GetColor(); c != tc.want {
			t.Errorf("%s: handler got label color %v, want %v", tc.header, c, tc.want)
		}
	}
}
