package pinsvc

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/status"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// metrics holds the Server's Prometheus collectors; a nil *metrics records
// nothing.
type metrics struct {
	pins        prometheus.Gauge
	services    prometheus.Gauge
	instances   prometheus.Gauge
	subs        prometheus.Gauge
	leaseCount  prometheus.Gauge
	writes      *prometheus.CounterVec
	watchLag    prometheus.Histogram
	revision    prometheus.Gauge
	registering prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		pins:      prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rollpin", Subsystem: "pind", Name: "pins", Help: "Number of services with a stored pin."}),
		services:  prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rollpin", Subsystem: "pind", Name: "services", Help: "Number of services with a pin or live instances."}),
		instances: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rollpin", Subsystem: "pind", Name: "instances", Help: "Number of live instance registrations (all pinds)."}),
		subs:      prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rollpin", Subsystem: "pind", Name: "subscribers", Help: "Open WatchPins and Register streams on this pind."}),
		leaseCount: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rollpin", Subsystem: "pind", Name: "registration_leases",
			Help: "etcd leases held by this pind for registrations (one, whatever the number of instances)."}),
		registering: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rollpin", Subsystem: "pind", Name: "registrations", Help: "Open Register streams on this pind."}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "rollpin", Subsystem: "pind", Name: "writes_total",
			Help: "Write RPCs (SetPin, Hold, Release, SetMode, Register) by rpc and gRPC code."}, []string{"rpc", "code"}),
		watchLag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "rollpin", Subsystem: "pind", Name: "watch_lag_seconds",
			Help:    "Time from a pin write (its updated_at) to this pind applying it from its etcd watch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		revision: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rollpin", Subsystem: "pind", Name: "state_revision", Help: "etcd revision of this pind's state."}),
	}
	for _, c := range []prometheus.Collector{m.pins, m.services, m.instances, m.subs, m.leaseCount, m.registering, m.writes, m.watchLag, m.revision} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) setState(st *State) {
	if m == nil {
		return
	}
	pins, insts := 0, 0
	for _, v := range st.Services {
		if v.Pin != nil {
			pins++
		}
		insts += len(v.Instances)
	}
	m.pins.Set(float64(pins))
	m.services.Set(float64(len(st.Services)))
	m.instances.Set(float64(insts))
	m.revision.Set(float64(st.Revision))
}

func (m *metrics) subscribers(d float64) {
	if m != nil {
		m.subs.Add(d)
	}
}

func (m *metrics) registrations(d float64) {
	if m != nil {
		m.registering.Add(d)
	}
}

func (m *metrics) leases(d float64) {
	if m != nil {
		m.leaseCount.Add(d)
	}
}

func (m *metrics) write(rpc string, err error) {
	if m != nil {
		m.writes.WithLabelValues(rpc, status.Code(err).String()).Inc()
	}
}

func (m *metrics) observeLag(p *rollpinv1.Pin, now time.Time) {
	if m == nil || p.GetUpdatedAt() == nil {
		return
	}
	if d := now.Sub(p.GetUpdatedAt().AsTime()); d >= 0 && d < time.Hour {
		m.watchLag.Observe(d.Seconds())
	}
}
