package interceptor_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/backport/backporttest"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
	"github.com/rollpin/rollpin/backport/backporttest/typespb"
	"github.com/rollpin/rollpin/interceptor"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

// wantRefusal fails unless err is a rollpin refusal with code, reason and
// exactly the metadata meta.
func wantRefusal(t *testing.T, err error, code codes.Code, reason string, meta map[string]string) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("error = %v, want code %v", err, code)
	}
	info, ok := interceptor.RefusalOf(fmt.Errorf("wrapped: %w", err))
	if !ok {
		t.Fatalf("RefusalOf(%v) = false, want a rollpin refusal", err)
	}
	if info.GetDomain() != "rollpin.dev" || info.GetReason() != reason {
		t.Errorf("ErrorInfo domain %q reason %q, want rollpin.dev %s", info.GetDomain(), info.GetReason(), reason)
	}
	if diff := cmp.Diff(meta, info.GetMetadata()); diff != "" {
		t.Errorf("%s metadata differ (-want +got):\n%s", reason, diff)
	}
}

// TestRefusalsCarryErrorInfo: every refusal kind reaches the caller, end to
// end through real servers, with its stable reason and metadata.
func TestRefusalsCarryErrorInfo(t *testing.T) {
	t.Parallel()
	meta := func(method string, kv ...string) map[string]string {
		m := map[string]string{"service": service, "method": method}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	encrypted := newRequest()
	encrypted.Encryption = &itestv1.Encryption{KeyId: "k1"}

	t.Run("field newer than pin", func(t *testing.T) {
		_, dial := startOld(t, bufNet)
		cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{service: v11})...))
		want := meta(mCreate, "field", "encryption", "track", track, "since", "1.2", "cap", "1.1")
		_, err := cli.Create(t.Context(), encrypted)
		wantRefusal(t, err, codes.FailedPrecondition, interceptor.RefusalFieldNewerThanPin, want)

		st, err := cli.Sync(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want["method"] = mSync
		wantRefusal(t, st.Send(encrypted), codes.FailedPrecondition, interceptor.RefusalFieldNewerThanPin, want)
		_, err = st.Recv()
		wantRefusal(t, err, codes.FailedPrecondition, interceptor.RefusalFieldNewerThanPin, want)
	})
	t.Run("enum value newer than pin", func(t *testing.T) {
		w := workloads(t)[1]
		srv := grpc.NewServer(grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()))
		w.register(srv, &svcpb.Volume{})
		pin, err := backport.ParseManifest(backporttest.SvcTrack + "=1.4," + backporttest.TypesTrack + "=2.2")
		if err != nil {
			t.Fatal(err)
		}
		cc := serve(t, bufNet, srv)(rollpinClient(interceptor.StaticPins{w.service: pin})...)
		req := &svcpb.Volume{Name: "v", Palette: []typespb.Color{typespb.Color_COLOR_RED, typespb.Color_COLOR_ULTRAVIOLET}}
		err = cc.Invoke(t.Context(), w.method, req, &svcpb.Volume{})
		wantRefusal(t, err, codes.FailedPrecondition, interceptor.RefusalEnumValueNewerThanPin, map[string]string{
			"service": w.service, "method": w.method,
			"field": "palette[1]", "enum_value": backporttest.TypesTrack + ".COLOR_ULTRAVIOLET",
			"track": backporttest.TypesTrack, "since": "2.3", "cap": "2.2",
		})
	})
	t.Run("method newer than pin", func(t *testing.T) {
		_, dial := startOld(t, bufNet)
		pins := interceptor.StaticPins{service: v11}
		cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(pins)...))
		want := meta(mProvision, "track", track, "since", "1.2", "cap", "1.1")
		_, err := cli.Provision(t.Context(), newRequest())
		wantRefusal(t, err, codes.FailedPrecondition, interceptor.RefusalMethodNewerThanPin, want)
		wantRefusal(t, interceptor.CanSend(pins, mProvision), codes.FailedPrecondition, interceptor.RefusalMethodNewerThanPin, want)
	})
	t.Run("sender newer than server", func(t *testing.T) {
		_, dial := startOld(t, bufNet)
		cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{service: v12})...))
		_, err := cli.Create(t.Context(), newRequest())
		wantRefusal(t, err, codes.FailedPrecondition, interceptor.RefusalSenderNewerThanServer,
			meta(mCreate, "track", track, "cap", "1.2", "own_version", "1.1"))
	})
	t.Run("across majors", func(t *testing.T) {
		_, dial := startNew(t, bufNet)
		v09 := backport.MustManifest(backport.Entry{Track: track, Version: backport.Version{Major: 0, Minor: 9}})
		cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{service: v09})...))
		_, err := cli.Create(t.Context(), newRequest())
		wantRefusal(t, err, codes.FailedPrecondition, interceptor.RefusalAcrossMajors,
			meta(mCreate, "track", track, "cap", "0.9", "own_version", "1.2"))
		// The server's side: a request sent at 0.5 cannot be completed.
		_, err = rawCall(t, dial(), interceptor.HeaderVersion, track+"=0.5")
		wantRefusal(t, err, codes.FailedPrecondition, interceptor.RefusalAcrossMajors,
			meta(mCreate, "track", track, "cap", "0.5", "own_version", "1.2"))
	})
	t.Run("bad header", func(t *testing.T) {
		_, dial := startNew(t, bufNet)
		_, err := rawCall(t, dial(), interceptor.HeaderVersion, track+"=one.two")
		wantRefusal(t, err, codes.InvalidArgument, interceptor.RefusalBadHeader, meta(mCreate, "header", interceptor.HeaderVersion))
		_, err = rawCall(t, dial(), interceptor.HeaderVersion, track+"=1.2", interceptor.HeaderCap, track+"=1.1", interceptor.HeaderCap, track+"=1.0")
		wantRefusal(t, err, codes.InvalidArgument, interceptor.RefusalBadHeader, meta(mCreate, "header", interceptor.HeaderCap))
	})
	t.Run("missing header", func(t *testing.T) {
		_, dial := startNew(t, bufNet, interceptor.WithNoHeaders(interceptor.NoHeadersReject))
		_, err := rawCall(t, dial())
		wantRefusal(t, err, codes.FailedPrecondition, interceptor.RefusalMissingHeader, meta(mCreate, "header", interceptor.HeaderVersion))
	})
	t.Run("unknown service", func(t *testing.T) {
		_, dial := startNew(t, bufNet)
		cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{}, interceptor.WithUnknownService(interceptor.UnknownServiceFail))...))
		_, err := cli.Create(t.Context(), newRequest())
		wantRefusal(t, err, codes.FailedPrecondition, interceptor.RefusalUnknownService, meta(mCreate))
	})
}

// busyServer refuses every Create with its own FAILED_PRECONDITION.
type busyServer struct {
	itestv1.UnimplementedVolumeServiceServer
}

func (busyServer) Create(context.Context, *itestv1.CreateRequest) (*itestv1.Volume, error) {
	return nil, status.Error(codes.FailedPrecondition, "volume is busy")
}

// TestRefusalOfTellsServerErrorsApart: a server's own FAILED_PRECONDITION
// passes through the interceptors unchanged and is not a rollpin refusal.
func TestRefusalOfTellsServerErrorsApart(t *testing.T) {
	t.Parallel()
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()))
	itestv1.RegisterVolumeServiceServer(srv, busyServer{})
	cc := serve(t, bufNet, srv)(rollpinClient(interceptor.StaticPins{service: v11})...)
	_, err := itestv1.NewVolumeServiceClient(cc).Create(t.Context(), newRequest())
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Create = %v, want the server's FAILED_PRECONDITION", err)
	}
	if info, ok := interceptor.RefusalOf(err); ok {
		t.Errorf("RefusalOf(server's own error) = %v, true; want false", info)
	}
	if _, ok := interceptor.RefusalOf(nil); ok {
		t.Error("RefusalOf(nil) = true, want false")
	}
}
