package interceptor_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/interceptor"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

// newRequest sets every field of the current version, new ones included.
func newRequest() *itestv1.CreateRequest {
	return &itestv1.CreateRequest{
		Name:   "vol",
		SizeGb: 3,
		Tier:   itestv1.Tier_TIER_NVME,
		Tags:   []string{"a", "b"},
		Thin:   false,
		Label:  "gold",
	}
}

// wantOldShaped fails unless m, decoded with the old descriptors, carries
// nothing the old version does not know (no unknown fields) and tier is SSD.
func wantOldShaped(t *testing.T, what string, m proto.Message) {
	t.Helper()
	r := m.ProtoReflect()
	if u := r.GetUnknown(); len(u) > 0 {
		t.Errorf("%s carries %d bytes of fields unknown to the old version: %v", what, len(u), m)
	}
	if tier := r.Get(r.Descriptor().Fields().ByName("tier")).Enum(); tier == 3 {
		t.Errorf("%s has tier NVME (3), which the old version does not know", what)
	}
}

func wantCode(t *testing.T, err error, code codes.Code, substrs ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("error = %v, want code %v", err, code)
	}
	for _, s := range substrs {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("error message %q does not contain %q", st.Message(), s)
		}
	}
}

func TestNewClientOldServerUnary(t *testing.T) {
	t.Parallel()
	old, dial := startOld(t, bufNet)
	cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{service: v11})...))

	got, err := cli.Create(t.Context(), newRequest())
	if err != nil {
		t.Fatal(err)
	}
	req := old.got.last(t)
	wantOldShaped(t, "request received by the old server", req)
	if tier := req.ProtoReflect().Get(old.req.Fields().ByName("tier")).Enum(); tier != 2 {
		t.Errorf("old server got tier %d, want 2 (TIER_SSD, the downgrade_to of TIER_NVME)", tier)
	}
	if name := req.ProtoReflect().Get(old.req.Fields().ByName("name")).String(); name != "vol" {
		t.Errorf("old server got name %q, want %q", name, "vol")
	}
	md := old.got.lastMD(t)
	if v := md.Get(interceptor.HeaderVersion); len(v) != 1 || v[0] != v12.String() {
		t.Errorf("%s = %q, want [%q]", interceptor.HeaderVersion, v, v12.String())
	}
	if v := md.Get(interceptor.HeaderCap); len(v) != 1 || v[0] != v11.String() {
		t.Errorf("%s = %q, want [%q]", interceptor.HeaderCap, v, v11.String())
	}
	// The old server predates thin: its volumes are thin, the client fills the default.
	if !got.GetThin() {
		t.Errorf("response thin = false, want true (default filled for a 1.1 server)")
	}
	if got.GetTier() != itestv1.Tier_TIER_SSD || got.GetName() != "vol" || got.GetSizeGb() != 3 {
		t.Errorf("response = %v, want name vol, size 3, tier SSD", got)
	}
}

func TestNewClientOldServerRejectField(t *testing.T) {
	t.Parallel()
	old, dial := startOld(t, bufNet)
	cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{service: v11})...))

	req := newRequest()
	req.Encryption = &itestv1.Encryption{KeyId: "k1"}
	_, err := cli.Create(t.Context(), req)
	wantCode(t, err, codes.FailedPrecondition, "encryption", "1.2", "1.1", mCreate)
	if n := old.got.calls.Load(); n != 0 {
		t.Errorf("old server counted %d calls, want 0: a rejected request must not be sent", n)
	}
}

func TestNewClientOldServerMethodTooNew(t *testing.T) {
	t.Parallel()
	old, dial := startOld(t, bufNet)
	pins := interceptor.StaticPins{service: v11}
	cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(pins)...))

	_, err := cli.Provision(t.Context(), newRequest())
	wantCode(t, err, codes.FailedPrecondition, mProvision, "since", "1.2", "pinned at rollpin.itest.v1=1.1")
	if n := old.got.calls.Load(); n != 0 {
		t.Errorf("old server counted %d calls, want 0", n)
	}
	if cerr := interceptor.CanSend(pins, mProvision); status.Code(cerr) != codes.FailedPrecondition || cerr.Error() != err.Error() {
		t.Errorf("CanSend(%s) = %v, want the call's error %v", mProvision, cerr, err)
	}
	if cerr := interceptor.CanSend(pins, mCreate); cerr != nil {
		t.Errorf("CanSend(%s) = %v, want nil", mCreate, cerr)
	}
	if cerr := interceptor.CanSend(interceptor.StaticPins{service: v12}, mProvision); cerr != nil {
		t.Errorf("CanSend(%s) at 1.2 = %v, want nil", mProvision, cerr)
	}
}

func TestFallback(t *testing.T) {
	t.Parallel()
	old, dial := startOld(t, bufNet)
	pins := interceptor.StaticPins{service: v11}
	cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(pins, interceptor.WithFallback(mProvision, mCreate))...))

	got, err := cli.Provision(t.Context(), newRequest())
	if err != nil {
		t.Fatalf("Provision with fallback: %v", err)
	}
	if got.GetName() != "vol" || !got.GetThin() {
		t.Errorf("response = %v, want name vol and thin filled", got)
	}
	wantOldShaped(t, "fallback request", old.got.last(t))
	if err := interceptor.CanSend(pins, mProvision, interceptor.WithFallback(mProvision, mCreate)); err != nil {
		t.Errorf("CanSend with fallback = %v, want nil", err)
	}
}

// oldClient calls with dynamic messages of the old version.
type oldClient struct {
	cc  *grpc.ClientConn
	req protoreflect.MessageDescriptor
	vol protoreflect.MessageDescriptor
}

func newOldClient(t *testing.T, dial func(...grpc.DialOption) *grpc.ClientConn, opts ...interceptor.Option) *oldClient {
	o := newOldServer(t) // for the descriptors
	opts = append([]interceptor.Option{interceptor.WithFiles(o.files)}, opts...)
	return &oldClient{cc: dial(rollpinClient(interceptor.StaticPins{}, opts...)...), req: o.req, vol: o.vol}
}

func (c *oldClient) request(name string) *dynamicpb.Message {
	r := dynamicpb.NewMessage(c.req)
	r.Set(c.req.Fields().ByName("name"), protoreflect.ValueOfString(name))
	r.Set(c.req.Fields().ByName("size_gb"), protoreflect.ValueOfInt64(2))
	r.Set(c.req.Fields().ByName("tier"), protoreflect.ValueOfEnum(2))
	return r
}

func TestOldClientNewServerUnary(t *testing.T) {
	t.Parallel()
	srv, dial := startNew(t, bufNet)
	oc := newOldClient(t, dial)

	reply := dynamicpb.NewMessage(oc.vol)
	if err := oc.cc.Invoke(t.Context(), mCreate, oc.request("upgrade-tier"), reply); err != nil {
		t.Fatal(err)
	}
	got := srv.got.last(t).(*itestv1.CreateRequest)
	if !got.GetThin() {
		t.Errorf("new server got thin = false, want true (default for a 1.1 sender)")
	}
	if got.GetLabel() != "" || got.GetName() != "upgrade-tier" {
		t.Errorf("new server got %v, want name upgrade-tier and no label", got)
	}
	// The handler answered tier NVME and a label: the old client gets SSD and no label.
	wantOldShaped(t, "response received by the old client", reply)
	if tier := reply.Get(oc.vol.Fields().ByName("tier")).Enum(); tier != 2 {
		t.Errorf("old client got tier %d, want 2 (TIER_SSD)", tier)
	}
}

func TestNewClientNewServerUntouched(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pins interceptor.StaticPins
	}{
		{"pinned at own version", interceptor.StaticPins{service: v12}},
		{"no pin", interceptor.StaticPins{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, dial := startNew(t, bufNet)
			cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(tc.pins)...))
			req := newRequest()
			got, err := cli.Create(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if r := srv.got.last(t); !proto.Equal(r, req) {
				t.Errorf("server got %v, want exactly %v", r, req)
			}
			if want := volumeOf(req); !proto.Equal(got, want) {
				t.Errorf("client got %v, want exactly %v (thin false kept)", got, want)
			}
			if v := srv.got.lastMD(t).Get(interceptor.HeaderCap); len(v) != 0 {
				t.Errorf("%s = %q, want absent (not downgraded)", interceptor.HeaderCap, v)
			}
		})
	}
}

func TestStreamsNewClientOldServer(t *testing.T) {
	t.Parallel()
	old, dial := startOld(t, bufNet)
	cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{service: v11})...))
	ctx := t.Context()

	t.Run("client stream", func(t *testing.T) {
		st, err := cli.Upload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := st.Send(newRequest()); err != nil {
				t.Fatal(err)
			}
		}
		sum, err := st.CloseAndRecv()
		if err != nil {
			t.Fatal(err)
		}
		if sum.GetCount() != 3 || sum.GetTotalGb() != 9 {
			t.Errorf("summary = %v, want count 3, total 9", sum)
		}
	})
	t.Run("server stream", func(t *testing.T) {
		st, err := cli.Watch(ctx, newRequest())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			v, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
			if !v.GetThin() || v.GetTier() != itestv1.Tier_TIER_SSD {
				t.Errorf("streamed volume %v: want thin filled and tier SSD", v)
			}
		}
		if n != 3 {
			t.Errorf("received %d volumes, want 3", n)
		}
	})
	t.Run("bidi", func(t *testing.T) {
		st, err := cli.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := st.Send(newRequest()); err != nil {
				t.Fatal(err)
			}
			v, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if !v.GetThin() || v.GetLabel() != "" {
				t.Errorf("bidi volume %v: want thin filled and no label", v)
			}
		}
		req := newRequest()
		req.Encryption = &itestv1.Encryption{KeyId: "k"}
		wantCode(t, st.Send(req), codes.FailedPrecondition, "encryption")
		// The refusal aborted the stream: Recv reports it.
		_, err = st.Recv()
		wantCode(t, err, codes.FailedPrecondition, "encryption")
	})
	for i, m := range old.got.all() {
		wantOldShaped(t, "streamed request "+string(rune('0'+i)), m)
	}
	if n := len(old.got.all()); n != 3+1+2 {
		t.Errorf("old server received %d messages, want 6 (the rejected one never sent)", n)
	}
	_, err := cli.Provision(ctx, newRequest())
	wantCode(t, err, codes.FailedPrecondition)
}

func TestStreamsOldClientNewServer(t *testing.T) {
	t.Parallel()
	srv, dial := startNew(t, bufNet)
	oc := newOldClient(t, dial)
	ctx := t.Context()
	desc := &grpc.StreamDesc{StreamName: "Sync", ClientStreams: true, ServerStreams: true}
	st, err := oc.cc.NewStream(ctx, desc, mSync)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := st.SendMsg(oc.request("upgrade-tier")); err != nil {
			t.Fatal(err)
		}
		v := dynamicpb.NewMessage(oc.vol)
		if err := st.RecvMsg(v); err != nil {
			t.Fatal(err)
		}
		wantOldShaped(t, "bidi response to the old client", v)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := st.RecvMsg(dynamicpb.NewMessage(oc.vol)); !errors.Is(err, io.EOF) {
		t.Errorf("RecvMsg after CloseSend = %v, want EOF", err)
	}
	for _, m := range srv.got.all() {
		if r := m.(*itestv1.CreateRequest); !r.GetThin() {
			t.Errorf("new server got %v, want thin filled", r)
		}
	}

	// Client stream: every message gets its defaults.
	us, err := oc.cc.NewStream(ctx, &grpc.StreamDesc{StreamName: "Upload", ClientStreams: true}, mUpload)
	if err != nil {
		t.Fatal(err)
	}
	before := len(srv.got.all())
	for range 3 {
		if err := us.SendMsg(oc.request("up")); err != nil {
			t.Fatal(err)
		}
	}
	if err := us.CloseSend(); err != nil {
		t.Fatal(err)
	}
	sum := dynamicpb.NewMessage(newOldServer(t).summary)
	if err := us.RecvMsg(sum); err != nil {
		t.Fatal(err)
	}
	if n := sum.Get(sum.Descriptor().Fields().ByName("count")).Int(); n != 3 {
		t.Errorf("upload summary count = %d, want 3", n)
	}
	for _, m := range srv.got.all()[before:] {
		if r := m.(*itestv1.CreateRequest); !r.GetThin() {
			t.Errorf("uploaded request %v: want thin filled", r)
		}
	}

	// Server stream: each response shaped for the old client.
	ws, err := oc.cc.NewStream(ctx, &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}, mWatch)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.SendMsg(oc.request("upgrade-tier")); err != nil {
		t.Fatal(err)
	}
	if err := ws.CloseSend(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		v := dynamicpb.NewMessage(oc.vol)
		if err := ws.RecvMsg(v); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		wantOldShaped(t, "watched volume", v)
	}
	if n != 2 {
		t.Errorf("watched %d volumes, want 2", n)
	}
}

// rawCall calls Create with no rollpin client interceptor and the given
// request metadata.
func rawCall(t *testing.T, cc *grpc.ClientConn, kv ...string) (*itestv1.Volume, error) {
	ctx := metadata.AppendToOutgoingContext(t.Context(), kv...)
	return itestv1.NewVolumeServiceClient(cc).Create(ctx, newRequest())
}

func TestCallerClaimsNewerVersion(t *testing.T) {
	t.Parallel()
	t.Run("wrong pin against an old server", func(t *testing.T) {
		old, dial := startOld(t, bufNet)
		// The pin says 1.2 but the server runs 1.1.
		cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{service: v12})...))
		_, err := cli.Create(t.Context(), newRequest())
		wantCode(t, err, codes.FailedPrecondition, "rollpin.itest.v1", "1.2", "runs 1.1", "pin")
		if n := old.got.calls.Load(); n != 0 {
			t.Errorf("old server handled %d calls, want 0", n)
		}
	})
	t.Run("lying headers against a new server", func(t *testing.T) {
		srv, dial := startNew(t, bufNet)
		_, err := rawCall(t, dial(), interceptor.HeaderVersion, "rollpin.itest.v1=1.9")
		wantCode(t, err, codes.FailedPrecondition, "1.9", "runs 1.2")
		// A cap at or below the server makes the same claim acceptable.
		if _, err := rawCall(t, dial(), interceptor.HeaderVersion, "rollpin.itest.v1=1.9", interceptor.HeaderCap, "rollpin.itest.v1=1.1"); err != nil {
			t.Errorf("version 1.9 capped at 1.1: %v, want success", err)
		}
		if n := srv.got.calls.Load(); n != 1 {
			t.Errorf("server handled %d calls, want 1", n)
		}
	})
	t.Run("malformed headers", func(t *testing.T) {
		_, dial := startNew(t, bufNet)
		_, err := rawCall(t, dial(), interceptor.HeaderVersion, "rollpin.itest.v1=one.two")
		wantCode(t, err, codes.InvalidArgument, interceptor.HeaderVersion, "one.two")
		_, err = rawCall(t, dial(), interceptor.HeaderVersion, "rollpin.itest.v1=1.1", interceptor.HeaderCap, "garbage")
		wantCode(t, err, codes.InvalidArgument, interceptor.HeaderCap, "garbage")
	})
}

func TestNoHeadersPolicy(t *testing.T) {
	t.Parallel()
	t.Run("as own version", func(t *testing.T) {
		srv, dial := startNew(t, bufNet)
		got, err := rawCall(t, dial())
		if err != nil {
			t.Fatal(err)
		}
		if r := srv.got.last(t); !proto.Equal(r, newRequest()) {
			t.Errorf("server got %v, want the request untouched (thin false kept)", r)
		}
		if got.GetThin() || got.GetLabel() != "gold" {
			t.Errorf("response %v was changed, want it as the handler built it", got)
		}
	})
	t.Run("reject", func(t *testing.T) {
		srv, dial := startNew(t, bufNet, interceptor.WithNoHeaders(interceptor.NoHeadersReject))
		_, err := rawCall(t, dial())
		wantCode(t, err, codes.FailedPrecondition, interceptor.HeaderVersion, "client interceptors")
		if n := srv.got.calls.Load(); n != 0 {
			t.Errorf("server handled %d calls, want 0", n)
		}
	})
}

func TestUnknownServicePolicy(t *testing.T) {
	t.Parallel()
	srv, dial := startNew(t, bufNet)
	cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{}, interceptor.WithUnknownService(interceptor.UnknownServiceFail))...))
	_, err := cli.Create(t.Context(), newRequest())
	wantCode(t, err, codes.FailedPrecondition, "no pin for service "+service)
	if n := srv.got.calls.Load(); n != 0 {
		t.Errorf("server handled %d calls, want 0", n)
	}
	if err := interceptor.CanSend(interceptor.StaticPins{}, mCreate, interceptor.WithUnknownService(interceptor.UnknownServiceFail)); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("CanSend for an unknown service = %v, want FAILED_PRECONDITION", err)
	}
}

func TestLoopbackTCP(t *testing.T) {
	t.Parallel()
	old, dial := startOld(t, tcpNet)
	cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{service: v11})...))
	got, err := cli.Create(t.Context(), newRequest())
	if err != nil {
		t.Fatal(err)
	}
	wantOldShaped(t, "request over TCP", old.got.last(t))
	if !got.GetThin() {
		t.Errorf("response thin = false, want the default true")
	}
}

func TestServerSendsItsVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(testing.TB, network, ...interceptor.Option) func(...grpc.DialOption) *grpc.ClientConn
		want  string
	}{
		{"old", func(t testing.TB, n network, o ...interceptor.Option) func(...grpc.DialOption) *grpc.ClientConn {
			_, d := startOld(t, n, o...)
			return d
		}, v11.String()},
		{"new", func(t testing.TB, n network, o ...interceptor.Option) func(...grpc.DialOption) *grpc.ClientConn {
			_, d := startNew(t, n, o...)
			return d
		}, v12.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := tc.start(t, bufNet)()
			var hdr metadata.MD
			if _, err := itestv1.NewVolumeServiceClient(cc).Create(t.Context(), &itestv1.CreateRequest{Name: "x"}, grpc.Header(&hdr)); err != nil {
				t.Fatal(err)
			}
			if v := hdr.Get(interceptor.HeaderVersion); len(v) != 1 || v[0] != tc.want {
				t.Errorf("response header %s = %q, want [%q]", interceptor.HeaderVersion, v, tc.want)
			}
		})
	}
}

func TestUnusableFallback(t *testing.T) {
	t.Parallel()
	pins := interceptor.StaticPins{service: v11}
	for _, tc := range []struct {
		fallback string
		want     string
	}{
		{"/" + service + "/Nope", "not a method of the known schema"},
		{mUpload, "returns rollpin.itest.v1.Summary"},
		{mWatch, "does not stream like"},
	} {
		err := interceptor.CanSend(pins, mProvision, interceptor.WithFallback(mProvision, tc.fallback))
		wantCode(t, err, codes.FailedPrecondition, mProvision, "fallback is unusable", tc.want)
	}
}

func TestAcrossMajors(t *testing.T) {
	t.Parallel()
	srv, dial := startNew(t, bufNet)
	v09 := backport.MustManifest(backport.Entry{Track: track, Version: backport.Version{Major: 0, Minor: 9}})
	cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{service: v09})...))
	_, err := cli.Create(t.Context(), newRequest())
	wantCode(t, err, codes.FailedPrecondition, "major")
	_, err = rawCall(t, dial(), interceptor.HeaderVersion, "rollpin.itest.v1=0.5")
	wantCode(t, err, codes.FailedPrecondition, "major", "0.5")
	if n := srv.got.calls.Load(); n != 0 {
		t.Errorf("server handled %d calls, want 0", n)
	}
}
