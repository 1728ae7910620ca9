package prometheus_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollpin/rollpin/interceptor"
	rollpinprom "github.com/rollpin/rollpin/interceptor/prometheus"
)

// ExampleNewMetrics registers the collectors with a registry of the user's
// choice and hands them to the interceptors.
func ExampleNewMetrics() {
	m := rollpinprom.NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)

	pins := interceptor.StaticPins{}
	_ = interceptor.UnaryClientInterceptor(pins, interceptor.WithMetrics(m))
	_ = interceptor.UnaryServerInterceptor(interceptor.WithMetrics(m))

	m.CallRejected("/acme.v1.VolumeService/Attach", interceptor.ReasonMethodTooNew)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		fmt.Println(mf.GetName(), mf.GetMetric()[0].GetCounter().GetValue())
	}
	// Output:
	// rollpin_rejected_calls_total 1
}
