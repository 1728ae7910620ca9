package pinclientprom

import (
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/pinsvc/pinclient"
)

// Metrics is a prometheus.Collector and a pinclient.Reporter. It is safe for
// concurrent use. Pass it to pinclient.WithMetrics and register it with a
// prometheus.Registerer.
type Metrics struct {
	connected prometheus.Gauge
	ends      *prometheus.CounterVec
	batches   prometheus.Counter
	updates   prometheus.Counter
	revision  prometheus.Gauge
	writes    *prometheus.CounterVec
}

var _ pinclient.Reporter = (*Metrics)(nil)

// Option configures NewMetrics.
type Option func(*options)

type options struct {
	namespace   string
	constLabels prometheus.Labels
}

// WithNamespace prefixes every metric name with ns and "_". Default: none.
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithConstLabels adds constant labels to every metric (for several clients
// in one process). Default: none.
func WithConstLabels(l prometheus.Labels) Option { return func(o *options) { o.constLabels = l } }

// NewMetrics returns unregistered collectors.
func NewMetrics(opts ...Option) *Metrics {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: o.namespace, Name: name, Help: help, ConstLabels: o.constLabels})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: o.namespace, Name: name, Help: help, ConstLabels: o.constLabels})
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: o.namespace, Name: name, Help: help, ConstLabels: o.constLabels}, labels)
	}
	return &Metrics{
		connected: gauge("rollpin_pinclient_connected", "1 while a stream to pind delivers pins, else 0."),
		ends:      counterVec("rollpin_pinclient_stream_ends_total", "Streams to pind, and attempts to open one, that ended, by gRPC code.", "code"),
		batches:   counter("rollpin_pinclient_update_batches_total", "Batches of pin updates applied."),
		updates:   counter("rollpin_pinclient_updates_total", "Pin updates from pind applied."),
		revision:  gauge("rollpin_pinclient_revision", "etcd revision the client's pins reflect."),
		writes:    counterVec("rollpin_pinclient_snapshot_file_writes_total", "Writes of the snapshot file, by result (ok, error).", "result"),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.connected, m.ends, m.batches, m.updates, m.revision, m.writes}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// Connected implements pinclient.Reporter.
func (m *Metrics) Connected(string, bool) { m.connected.Set(1) }

// Disconnected implements pinclient.Reporter.
func (m *Metrics) Disconnected(_ string, err error) {
	m.connected.Set(0)
	m.ends.WithLabelValues(status.Code(err).String()).Inc()
}

// Applied implements pinclient.Reporter.
func (m *Metrics) Applied(n int, revision int64) {
	m.batches.Inc()
	m.updates.Add(float64(n))
	m.revision.Set(float64(revision))
}

// SnapshotSaved implements pinclient.Reporter.
func (m *Metrics) SnapshotSaved(err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.writes.WithLabelValues(result).Inc()
}
