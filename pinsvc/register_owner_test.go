package pinsvc

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// wantRefusal checks the code and the ErrorInfo reason of err.
func wantRefusal(t testing.TB, what string, err error, code codes.Code, reason string) {
	t.Helper()
	info, ok := refusal.Of(err)
	if status.Code(err) != code || !ok || info.GetReason() != reason {
		t.Fatalf("%s: %v (ErrorInfo %v), want %v with reason %s", what, err, info, code, reason)
	}
}

// An instance ID belongs to the stream that registered it: a second claim,
// through the same pind or another, is refused with ALREADY_EXISTS naming
// the holder, and leaves the first registration in place.
func TestRegisterIDIsOwnedByItsStream(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	a := startServer(t, cli, WithName("pind-a"))
	b := startServer(t, cli, WithName("pind-b"))
	started := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := a.cli.Register(ctx, &rollpinv1.RegisterRequest{
		Instance: &rollpinv1.Instance{Id: "i1", Manifest: "acme.volume.v1=1.4", StartedAt: timestamppb.New(started)},
		Services: []string{testSvc},
	})
	if err == nil {
		_, err = first.Recv()
	}
	if err != nil {
		t.Fatalf("first Register: %v", err)
	}
	for _, c := range []struct {
		name string
		cli  rollpinv1.PinServiceClient
	}{{"another pind", b.cli}, {"the same pind", a.cli}} {
		_, err := register(t, c.cli, "i1", "acme.volume.v1=0.1", testSvc)
		wantRefusal(t, "second Register of i1 through "+c.name, err, codes.AlreadyExists, refusal.InstanceIDTaken)
		info, _ := refusal.Of(err)
		if info.GetMetadata()[refusal.KeyHolder] != "pind-a" || info.GetMetadata()[refusal.KeyHolderSince] != "2026-03-01T12:00:00Z" {
			t.Errorf("ErrorInfo metadata = %v, want holder pind-a since 2026-03-01T12:00:00Z", info.GetMetadata())
		}
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "pind-a") || !strings.Contains(msg, "2026-03-01T12:00:00Z") {
			t.Errorf("message %q does not name the holder's pind and start time", msg)
		}
	}
	resp, err := cli.Get(ctxT(t), DefaultPrefix+"instances/"+testSvc+"/i1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("key of i1 after the refused claims: %v, %v", resp, err)
	}
	held := &rollpinv1.Instance{}
	if err := proto.Unmarshal(resp.Kvs[0].Value, held); err != nil || held.GetManifest() != "acme.volume.v1=1.4" || held.GetPind() != "pind-a" {
		t.Fatalf("key of i1 = %v (%v), want the first registration (1.4 through pind-a)", held, err)
	}
	// Once the holder's stream ends, the ID is free again.
	cancel()
	pollUntil(t, "i1 to be claimable", func() bool {
		_, err := register(t, b.cli, "i1", "acme.volume.v1=1.5", testSvc)
		return err == nil
	})
}

// Registration needs credentials when pind has any: the register token (any
// case of the Bearer scheme), the admin token, or a client certificate
// allowed to register every listed service.
func TestRegisterNeedsCredentials(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli, WithRegisterToken("reg"), WithAdminToken("adm"))
	req := &rollpinv1.RegisterRequest{
		Instance: &rollpinv1.Instance{Id: "i1", Manifest: "acme.volume.v1=1.4"},
		Services: []string{testSvc},
	}
	open := func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := ts.cli.Register(ctx, req)
		if err == nil {
			_, err = st.Recv()
		}
		return err
	}
	wantRefusal(t, "Register without credentials", open(ctxT(t)), codes.Unauthenticated, refusal.CredentialsMissing)
	wantRefusal(t, "Register with a wrong token", open(withToken(ctxT(t), "guess")), codes.PermissionDenied, refusal.CredentialsRejected)
	for i, tok := range []string{"Bearer reg", "bearer reg", "BEARER adm"} {
		req.Instance.Id = fmt.Sprintf("i%d", i)
		if err := open(withAuthorization(ctxT(t), tok)); err != nil {
			t.Errorf("Register with %q: %v", tok, err)
		}
	}
	// An admin token alone is enough to close registration too.
	ts2 := startServer(t, cli, WithAdminToken("adm"))
	_, err := register(t, ts2.cli, "i2", "acme.volume.v1=1.4", testSvc)
	wantRefusal(t, "Register on a pind with only an admin token", err, codes.Unauthenticated, refusal.CredentialsMissing)
}

func withAuthorization(ctx context.Context, v string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", v)
}

// With mTLS, a certificate identity registers the services its patterns
// cover, and only those.
func TestRegisterWithCertificateIdentity(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	srv, err := NewServer(cli,
		WithRegisterIdentities(map[string][]string{"volume": {"acme.volume.v1.*"}, "any": {"*"}, "one": {"acme.types.v1.TypeService"}}),
		WithServerLogger(quietLogger()), WithLeaseTTL(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetController(nil)
	if err := srv.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	pki := newTestPKI(t)
	dial := serveMTLS(t, srv, pki)
	const types = "acme.types.v1.TypeService"
	for i, tc := range []struct {
		cn   string
		svcs []string
		want codes.Code
	}{
		{"", []string{testSvc}, codes.Unauthenticated},
		{"volume", []string{testSvc}, codes.OK},
		{"volume", []string{testSvc, types}, codes.PermissionDenied},
		{"one", []string{types}, codes.OK},
		{"one", []string{testSvc}, codes.PermissionDenied},
		{"any", []string{testSvc, types}, codes.OK},
		{"stranger", []string{testSvc}, codes.PermissionDenied},
	} {
		var certs []tls.Certificate
		if tc.cn != "" {
			certs = append(certs, pki.issue(t, tc.cn, false))
		}
		_, err := register(t, dial(certs...), fmt.Sprintf("c%d", i), "acme.volume.v1=1.4,acme.types.v1=2.0", tc.svcs...)
		if got := status.Code(err); got != tc.want {
			t.Errorf("Register(%v) as %q: %v, want %v", tc.svcs, tc.cn, err, tc.want)
		}
	}
}

// Bad registrations are INVALID_ARGUMENT with reason INVALID_REQUEST, and
// write nothing.
func TestRegisterRefusesBadInput(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	base := func() *rollpinv1.RegisterRequest {
		return &rollpinv1.RegisterRequest{
			Instance: &rollpinv1.Instance{Id: "ok", Manifest: "acme.volume.v1=1.4"},
			Services: []string{testSvc},
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*rollpinv1.RegisterRequest)
	}{
		{"leading zero in a version", func(r *rollpinv1.RegisterRequest) { r.Instance.Manifest = "acme.volume.v1=01.4" }},
		{"leading zero in a minor", func(r *rollpinv1.RegisterRequest) { r.Instance.Manifest = "acme.volume.v1=1.04" }},
		{"id ..", func(r *rollpinv1.RegisterRequest) { r.Instance.Id = ".." }},
		{"id .", func(r *rollpinv1.RegisterRequest) { r.Instance.Id = "." }},
		{"empty manifest", func(r *rollpinv1.RegisterRequest) { r.Instance.Manifest = "" }},
		{"manifest without the service's track", func(r *rollpinv1.RegisterRequest) { r.Instance.Manifest = "acme.types.v1=2.0" }},
		{"started_at after year 9999", func(r *rollpinv1.RegisterRequest) {
			r.Instance.StartedAt = &timestamppb.Timestamp{Seconds: 253402300800}
		}},
		{"started_at with bad nanos", func(r *rollpinv1.RegisterRequest) { r.Instance.StartedAt = &timestamppb.Timestamp{Nanos: -1} }},
	} {
		req := base()
		tc.edit(req)
		ctx, cancel := context.WithCancel(ctxT(t))
		st, err := ts.cli.Register(ctx, req)
		if err == nil {
			_, err = st.Recv()
		}
		cancel()
		info, ok := refusal.Of(err)
		if status.Code(err) != codes.InvalidArgument || !ok || info.GetReason() != refusal.InvalidRequest {
			t.Errorf("Register with %s: %v (ErrorInfo %v), want INVALID_ARGUMENT, reason INVALID_REQUEST", tc.name, err, info)
		}
	}
	resp, err := cli.Get(ctxT(t), DefaultPrefix+"instances/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("refused registrations left keys: %v, %v", resp.Kvs, err)
	}
	_, err = ts.cli.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "01.4", Force: true})
	wantRefusal(t, "SetPin 01.4", err, codes.InvalidArgument, refusal.InvalidRequest)
}

// The documented limit of services per registration holds: a registration
// of MaxServicesPerInstance services succeeds (one etcd transaction holds
// it), one more is refused as never able to succeed.
func TestRegisterServiceLimit(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	svcs := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("acme.volume.v1.S%03d", i)
		}
		return out
	}
	if _, err := register(t, ts.cli, "full", "acme.volume.v1=1.4", svcs(MaxServicesPerInstance)...); err != nil {
		t.Fatalf("Register of %d services: %v", MaxServicesPerInstance, err)
	}
	for _, n := range []int{MaxServicesPerInstance + 1, 200, 256} {
		_, err := register(t, ts.cli, fmt.Sprintf("over%d", n), "acme.volume.v1=1.4", svcs(n)...)
		wantRefusal(t, fmt.Sprintf("Register of %d services", n), err, codes.InvalidArgument, refusal.TooManyServices)
	}
}

// An instance that announces its service's track below the live instances
// is fenced even while the pin does not name that track yet.
func TestRegisterFencesTracksThePinDoesNotName(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	mustSetPin(t, ts.cli, testSvc, "acme.types.v1=2.0", true)
	if _, err := register(t, ts.cli, "live", "acme.volume.v1=1.4,acme.types.v1=2.0", testSvc); err != nil {
		t.Fatalf("Register live: %v", err)
	}
	_, err := register(t, ts.cli, "fake", "acme.volume.v1=0.0,acme.types.v1=2.0", testSvc)
	wantRefusal(t, "Register at acme.volume.v1=0.0 beside a live 1.4", err, codes.FailedPrecondition, refusal.Fenced)
	if _, err := register(t, ts.cli, "same", "acme.volume.v1=1.4,acme.types.v1=2.0", testSvc); err != nil {
		t.Fatalf("Register at the live version: %v", err)
	}
	// Naming the track in the pin is the roll-back path.
	mustSetPin(t, ts.cli, testSvc, "acme.types.v1=2.0,acme.volume.v1=1.2", true)
	if _, err := register(t, ts.cli, "old", "acme.volume.v1=1.2,acme.types.v1=2.0", testSvc); err != nil {
		t.Fatalf("Register at the pinned 1.2: %v", err)
	}
}

// The process that holds an ID takes it over with the same claim (failing
// over from a pind cut off from etcd) without waiting for the old lease;
// another claim, or none, is still refused; and the old stream ending
// afterwards leaves the new keys alone.
func TestRegisterClaimTakesOwnKeysOver(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	a := startServer(t, cli, WithName("pind-a"))
	b := startServer(t, cli, WithName("pind-b"))
	claim := []byte("0123456789abcdef")
	open := func(c rollpinv1.PinServiceClient, claim []byte) (context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := c.Register(ctx, &rollpinv1.RegisterRequest{
			Instance: &rollpinv1.Instance{Id: "i1", Manifest: "acme.volume.v1=1.3"},
			Services: []string{testSvc},
			Claim:    claim,
		})
		if err == nil {
			_, err = st.Recv()
		}
		if err != nil {
			cancel()
			return nil, err
		}
		t.Cleanup(cancel)
		return cancel, nil
	}
	endFirst, err := open(a.cli, claim)
	if err != nil {
		t.Fatalf("first Register: %v", err)
	}
	_, err = open(b.cli, []byte("another process!"))
	wantRefusal(t, "Register of i1 with another claim", err, codes.AlreadyExists, refusal.InstanceIDTaken)
	_, err = open(b.cli, nil)
	wantRefusal(t, "Register of i1 without a claim", err, codes.AlreadyExists, refusal.InstanceIDTaken)
	if _, err := open(b.cli, claim); err != nil {
		t.Fatalf("Register of i1 with its own claim through pind-b: %v", err)
	}
	key := DefaultPrefix + "instances/" + testSvc + "/i1"
	held := func() *rollpinv1.Instance {
		resp, err := cli.Get(ctxT(t), key)
		if err != nil || len(resp.Kvs) != 1 {
			return nil
		}
		in := &rollpinv1.Instance{}
		if proto.Unmarshal(resp.Kvs[0].Value, in) != nil {
			return nil
		}
		return in
	}
	if in := held(); in == nil || in.GetPind() != "pind-b" || in.GetClaimDigest() != claimDigest(claim) {
		t.Fatalf("key of i1 after the takeover = %v, want held by pind-b with the claim's digest", in)
	}
	endFirst()
	// The first stream's unregister must not delete the taken-over keys:
	// wait until pind-a has seen its stream end, then check.
	pollUntil(t, "pind-a to drop its registration", func() bool { return a.srv.Registrations() == 0 })
	if in := held(); in == nil || in.GetPind() != "pind-b" {
		t.Fatalf("key of i1 after the old stream ended = %v, want still held by pind-b", in)
	}
	st, err := a.cli.Register(ctxT(t), &rollpinv1.RegisterRequest{
		Instance: &rollpinv1.Instance{Id: "i2", Manifest: "acme.volume.v1=1.3"},
		Services: []string{testSvc},
		Claim:    make([]byte, MaxClaimLen+1),
	})
	if err == nil {
		_, err = st.Recv()
	}
	wantRefusal(t, "Register with a claim over MaxClaimLen", err, codes.InvalidArgument, refusal.InvalidRequest)
}
