package pinsvc

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// ControllerMetrics holds the Prometheus collectors of a Controller. It
// implements prometheus.Collector: register it once (cmd/pind does) with
// registry.MustRegister(controller.Metrics()).
type ControllerMetrics struct {
	raises    *prometheus.CounterVec
	conflicts prometheus.Counter
	leader    prometheus.Gauge
	total     atomic.Int64
}

// NewControllerMetrics returns fresh, unregistered collectors:
//
//   - rollpin_pind_auto_raises_total{service, kind="raise"|"create"}: pins
//     the controller wrote;
//   - rollpin_pind_auto_raise_conflicts_total: raises abandoned because the
//     pin, the instances or the leadership changed meanwhile;
//   - rollpin_pind_controller_leader: 1 while this pind's controller leads.
func NewControllerMetrics() *ControllerMetrics {
	return &ControllerMetrics{
		raises: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollpin_pind_auto_raises_total",
			Help: "Pins written by the automatic raise controller, by service and kind (raise, create).",
		}, []string{"service", "kind"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollpin_pind_auto_raise_conflicts_total",
			Help: "Automatic raises abandoned because the pin, the instances or the leadership changed since the decision.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollpin_pind_controller_leader",
			Help: "1 while this pind's controller holds the leadership, 0 otherwise.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (m *ControllerMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.raises.Describe(ch)
	m.conflicts.Describe(ch)
	m.leader.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *ControllerMetrics) Collect(ch chan<- prometheus.Metric) {
	m.raises.Collect(ch)
	m.conflicts.Collect(ch)
	m.leader.Collect(ch)
}

// RaisesTotal returns how many pins this controller raised or created.
func (m *ControllerMetrics) RaisesTotal() int64 { return m.total.Load() }
