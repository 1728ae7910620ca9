// Package prometheus provides Prometheus collectors for the interceptor
// package: downgraded calls, dropped fields by field name, downgraded enum
// values, filled defaults and rejected calls by reason. The user registers
// them where they like, as with go-grpc-middleware's providers/prometheus.
//
// # Usage
//
//	m := prometheus.NewMetrics()
//	registry.MustRegister(m)
//	unary := interceptor.UnaryClientInterceptor(pins, interceptor.WithMetrics(m))
//
// # Metrics
//
//	rollpin_downgraded_calls_total{grpc_service, grpc_method}
//	rollpin_dropped_fields_total{field}
//	rollpin_downgraded_enum_values_total{field, from, to}
//	rollpin_filled_defaults_total{field}
//	rollpin_rejected_calls_total{grpc_service, grpc_method, reason}
//
// Label values come from the schema (field and method names) and from a
// fixed set of reasons, so their number is bounded.
package prometheus
