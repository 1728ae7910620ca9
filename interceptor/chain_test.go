package interceptor_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/google/go-cmp/cmp"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/interceptor"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
	rollpinprom "github.com/rollpin/rollpin/interceptor/prometheus"
)

// logLines is a go-grpc-middleware logging.Logger that keeps its lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) log(_ context.Context, _ logging.Level, msg string, fields ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(msg, fields))
}

func (l *logLines) contains(substrs ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		ok := true
		for _, s := range substrs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestChainWithMiddleware(t *testing.T) {
	t.Parallel()
	var srvLog, cliLog logLines
	impl := newOldServer(t)
	files := interceptor.WithFiles(impl.files)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(
			recovery.UnaryServerInterceptor(),
			logging.UnaryServerInterceptor(logging.LoggerFunc(srvLog.log)),
			interceptor.UnaryServerInterceptor(files),
		),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(),
			logging.StreamServerInterceptor(logging.LoggerFunc(srvLog.log)),
			interceptor.StreamServerInterceptor(files),
		),
	)
	srv.RegisterService(impl.desc(), struct{}{})
	dial := serve(t, bufNet, srv)
	pins := interceptor.StaticPins{service: v11}
	cc := dial(
		grpc.WithChainUnaryInterceptor(
			logging.UnaryClientInterceptor(logging.LoggerFunc(cliLog.log)),
			interceptor.UnaryClientInterceptor(pins),
		),
		grpc.WithChainStreamInterceptor(
			logging.StreamClientInterceptor(logging.LoggerFunc(cliLog.log)),
			interceptor.StreamClientInterceptor(pins),
		),
	)
	cli := itestv1.NewVolumeServiceClient(cc)

	got, err := cli.Create(t.Context(), newRequest())
	if err != nil {
		t.Fatal(err)
	}
	if !got.GetThin() {
		t.Errorf("response thin = false, want the default filled through the chain")
	}
	wantOldShaped(t, "request through the chain", impl.got.last(t))

	st, err := cli.Sync(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(newRequest()); err != nil {
		t.Fatal(err)
	}
	if v, err := st.Recv(); err != nil || !v.GetThin() {
		t.Fatalf("bidi Recv = %v, %v; want a volume with thin filled", v, err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after CloseSend = %v, want EOF", err)
	}

	_, err = cli.Provision(t.Context(), newRequest())
	wantCode(t, err, codes.FailedPrecondition, mProvision)
	if !cliLog.contains("finished call", "Create", "OK") {
		t.Errorf("client logging interceptor did not log the finished Create call: %q", cliLog.lines)
	}
	if !cliLog.contains("finished call", "Provision", "FailedPrecondition") {
		t.Errorf("client logging interceptor did not log the refused Provision call: %q", cliLog.lines)
	}
	if !srvLog.contains("finished call", "Create", "OK") {
		t.Errorf("server logging interceptor did not log Create: %q", srvLog.lines)
	}
}

func TestChainRecoveryNewServer(t *testing.T) {
	t.Parallel()
	recovered := recovery.WithRecoveryHandler(func(p any) error {
		return status.Errorf(codes.Internal, "recovered: %v", p)
	})
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(
		recovery.UnaryServerInterceptor(recovered),
		interceptor.UnaryServerInterceptor(),
	))
	impl := &newServer{}
	itestv1.RegisterVolumeServiceServer(srv, impl)
	dial := serve(t, bufNet, srv)
	oc := newOldClient(t, dial)
	// An old client's request gets its defaults before the handler panics;
	// recovery turns the panic into INTERNAL.
	err := oc.cc.Invoke(t.Context(), mCreate, oc.request("panic"), newOldReply(oc))
	if status.Code(err) != codes.Internal {
		t.Fatalf("call to a panicking handler = %v, want INTERNAL from recovery", err)
	}
	if r := impl.got.last(t).(*itestv1.CreateRequest); !r.GetThin() {
		t.Errorf("handler got %v, want thin filled", r)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	m := rollpinprom.NewMetrics()
	old, dial := startOld(t, bufNet, interceptor.WithMetrics(m))
	_ = old
	cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(interceptor.StaticPins{service: v11}, interceptor.WithMetrics(m))...))
	if _, err := cli.Create(t.Context(), newRequest()); err != nil {
		t.Fatal(err)
	}
	req := newRequest()
	req.Encryption = &itestv1.Encryption{}
	req.Tier = itestv1.Tier_TIER_SSD
	req.Label = ""
	if _, err := cli.Create(t.Context(), req); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Create with encryption = %v, want FAILED_PRECONDITION", err)
	}
	if _, err := cli.Provision(t.Context(), newRequest()); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Provision = %v, want FAILED_PRECONDITION", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	got := counters(t, reg)
	want := map[string]float64{
		`rollpin_downgraded_calls_total{grpc_method="Create",grpc_service="rollpin.itest.v1.VolumeService"}`:                          2,
		`rollpin_dropped_fields_total{field="rollpin.itest.v1.CreateRequest.label"}`:                                                  1,
		`rollpin_downgraded_enum_values_total{field="rollpin.itest.v1.CreateRequest.tier",from="TIER_NVME",to="TIER_SSD"}`:            1,
		`rollpin_filled_defaults_total{field="rollpin.itest.v1.Volume.thin"}`:                                                         1,
		`rollpin_rejected_calls_total{grpc_method="Create",grpc_service="rollpin.itest.v1.VolumeService",reason="field_rejected"}`:    1,
		`rollpin_rejected_calls_total{grpc_method="Provision",grpc_service="rollpin.itest.v1.VolumeService",reason="method_too_new"}`: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics differ (-want +got):\n%s", diff)
	}
}

// counters gathers reg into "name{label="value",...}" → value.
func counters(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}
