package prometheus

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/interceptor"
)

// Metrics is a prometheus.Collector and an interceptor.Reporter. It is safe
// for concurrent use. Pass it to interceptor.WithMetrics and register it
// with a prometheus.Registerer.
type Metrics struct {
	downgraded *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	enums      *prometheus.CounterVec
	filled     *prometheus.CounterVec
	rejected   *prometheus.CounterVec
}

var _ interceptor.Reporter = (*Metrics)(nil)

// Option configures NewMetrics.
type Option func(*options)

type options struct {
	namespace   string
	constLabels prometheus.Labels
}

// WithNamespace prefixes every metric name with ns and "_".
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithConstLabels adds constant labels to every metric.
func WithConstLabels(l prometheus.Labels) Option { return func(o *options) { o.constLabels = l } }

// NewMetrics returns unregistered collectors.
func NewMetrics(opts ...Option) *Metrics {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: o.namespace, Name: name, Help: help, ConstLabels: o.constLabels,
		}, labels)
	}
	return &Metrics{
		downgraded: counter("rollpin_downgraded_calls_total",
			"Calls whose request a client downgraded to a pin, or whose responses a server downgraded for an older caller.",
			"grpc_service", "grpc_method"),
		dropped: counter("rollpin_dropped_fields_total",
			"Populated fields cleared because the receiver predates them.", "field"),
		enums: counter("rollpin_downgraded_enum_values_total",
			"Enum values replaced by their downgrade_to because the receiver predates them.", "field", "from", "to"),
		filled: counter("rollpin_filled_defaults_total",
			"Fields set to their declared default because the sender predates them.", "field"),
		rejected: counter("rollpin_rejected_calls_total",
			"Calls refused by the rollpin interceptors, by reason.", "grpc_service", "grpc_method", "reason"),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.downgraded.Describe(ch)
	m.dropped.Describe(ch)
	m.enums.Describe(ch)
	m.filled.Describe(ch)
	m.rejected.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.downgraded.Collect(ch)
	m.dropped.Collect(ch)
	m.enums.Collect(ch)
	m.filled.Collect(ch)
	m.rejected.Collect(ch)
}

// splitMethod splits "/pkg.Service/Method".
func splitMethod(full string) (service, method string) {
	s := strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "unknown", s
}

// CallDowngraded implements interceptor.Reporter.
func (m *Metrics) CallDowngraded(fullMethod string) {
	svc, meth := splitMethod(fullMethod)
	m.downgraded.WithLabelValues(svc, meth).Inc()
}

// CallRejected implements interceptor.Reporter.
func (m *Metrics) CallRejected(fullMethod string, reason interceptor.Reason) {
	svc, meth := splitMethod(fullMethod)
	m.rejected.WithLabelValues(svc, meth, string(reason)).Inc()
}

// FieldDropped implements backport.Observer.
func (m *Metrics) FieldDropped(fd protoreflect.FieldDescriptor) {
	m.dropped.WithLabelValues(string(fd.FullName())).Inc()
}

// EnumDowngraded implements backport.Observer.
func (m *Metrics) EnumDowngraded(fd protoreflect.FieldDescriptor, from, to protoreflect.EnumValueDescriptor) {
	m.enums.WithLabelValues(string(fd.FullName()), string(from.Name()), string(to.Name())).Inc()
}

// DefaultFilled implements backport.Observer.
func (m *Metrics) DefaultFilled(fd protoreflect.FieldDescriptor) {
	m.filled.WithLabelValues(string(fd.FullName())).Inc()
}
