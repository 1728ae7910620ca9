package prometheus_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollpin/rollpin/interceptor"
	rollpinprom "github.com/rollpin/rollpin/interceptor/prometheus"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestMetricsCountWithLabels(t *testing.T) {
	t.Parallel()
	m := rollpinprom.NewMetrics(rollpinprom.WithNamespace("acme"), rollpinprom.WithConstLabels(prometheus.Labels{"app": "x"}))
	reg := prometheus.NewRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatalf("Register: %v", err)
	}
	fd := (&rollpinv1.FieldOptions{}).ProtoReflect().Descriptor().Fields().ByName("since")
	ed := rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT.Descriptor().Values()
	m.CallDowngraded("/acme.v1.Svc/Get")
	m.CallDowngraded("/acme.v1.Svc/Get")
	m.CallRejected("/acme.v1.Svc/Put", interceptor.ReasonMethodTooNew)
	m.FieldDropped(fd)
	m.DefaultFilled(fd)
	m.EnumDowngraded(fd, ed.ByNumber(2), ed.ByNumber(1))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ name, labels string }
	got := map[key]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			ls := ""
			for _, l := range mt.GetLabel() {
				ls += l.GetName() + "=" + l.GetValue() + ";"
			}
			got[key{mf.GetName(), ls}] = mt.GetCounter().GetValue()
		}
	}
	field := string(fd.FullName())
	for k, want := range map[key]float64{
		{"acme_rollpin_downgraded_calls_total", "app=x;grpc_method=Get;grpc_service=acme.v1.Svc;"}:                                2,
		{"acme_rollpin_rejected_calls_total", "app=x;grpc_method=Put;grpc_service=acme.v1.Svc;reason=method_too_new;"}:            1,
		{"acme_rollpin_dropped_fields_total", "app=x;field=" + field + ";"}:                                                       1,
		{"acme_rollpin_filled_defaults_total", "app=x;field=" + field + ";"}:                                                      1,
		{"acme_rollpin_downgraded_enum_values_total", "app=x;field=" + field + ";from=ON_DOWNGRADE_REJECT;to=ON_DOWNGRADE_DROP;"}: 1,
	} {
		if got[k] != want {
			t.Errorf("%s{%s} = %v, want %v (all: %v)", k.name, k.labels, got[k], want, got)
		}
	}
}
