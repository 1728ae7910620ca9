package interceptor

import (
	"log/slog"

	"google.golang.org/protobuf/reflect/protoregistry"
)

// UnknownServicePolicy says what a client interceptor does when its
// PinSource has no cap for the target service.
type UnknownServicePolicy int

const (
	// UnknownServiceUncapped sends the call as this binary speaks it (the
	// default): a service nobody pinned is assumed to run at least this
	// version. Responses still get defaults filled from the server's
	// rollpin-version header.
	UnknownServiceUncapped UnknownServicePolicy = iota
	// UnknownServiceFail refuses the call with FAILED_PRECONDITION.
	UnknownServiceFail
)

// NoHeadersPolicy says what a server interceptor does with a request that
// proves no version: no rollpin-version or rollpin-cap header naming one of
// the method's tracks (a client without rollpin interceptors); see the
// package doc, Wire protocol.
type NoHeadersPolicy int

const (
	// NoHeadersAsOwn treats the request as sent at the server's own version
	// (the default): nothing is filled, responses are not downgraded.
	NoHeadersAsOwn NoHeadersPolicy = iota
	// NoHeadersReject refuses the request with FAILED_PRECONDITION, reason
	// RefusalMissingHeader.
	NoHeadersReject
)

type options struct {
	files          *protoregistry.Files
	unknownService UnknownServicePolicy
	noHeaders      NoHeadersPolicy
	fallbacks      map[string]string
	logger         *slog.Logger
	reporter       Reporter
}

var defaultOptions = options{
	files:          protoregistry.GlobalFiles,
	unknownService: UnknownServiceUncapped,
	noHeaders:      NoHeadersAsOwn,
	logger:         slog.New(slog.DiscardHandler),
}

// Option configures the interceptors.
type Option func(*options)

func evaluateOptions(opts []Option) *options {
	o := defaultOptions
	o.fallbacks = nil
	for _, opt := range opts {
		opt(&o)
	}
	return &o
}

// WithFiles sets where method descriptors and the own manifest come from
// (default protoregistry.GlobalFiles). Proxies and tests serving dynamicpb
// messages pass the files describing them. The interceptor then downgrades
// and fills with a backport.Engine of its own that finds package
// declarations in files (nothing is registered globally).
func WithFiles(files *protoregistry.Files) Option {
	return func(o *options) {
		if files != nil {
			o.files = files
		}
	}
}

// WithUnknownService sets the client's policy for services without a cap
// (default UnknownServiceUncapped).
func WithUnknownService(p UnknownServicePolicy) Option {
	return func(o *options) { o.unknownService = p }
}

// WithNoHeaders sets the server's policy for requests that prove no version
// (default NoHeadersAsOwn).
func WithNoHeaders(p NoHeadersPolicy) Option {
	return func(o *options) { o.noHeaders = p }
}

// WithFallback makes the client call fallback (a full method name,
// "/pkg.Service/Method") instead of method when method's since is above the
// target service's cap. Both methods must take and return the same message
// types; the request is downgraded to the cap as usual. A call that cannot
// use the fallback either fails with FAILED_PRECONDITION.
func WithFallback(method, fallback string) Option {
	return func(o *options) {
		m := make(map[string]string, len(o.fallbacks)+1)
		for k, v := range o.fallbacks {
			m[k] = v
		}
		m[method] = fallback
		o.fallbacks = m
	}
}

// WithLogger sets the logger (default: discard). Rejected calls are logged
// at Warn, fallbacks at Info, downgrades at Debug.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithMetrics makes the interceptors report what they do to r, e.g. the
// collectors of the interceptor/prometheus package.
func WithMetrics(r Reporter) Option {
	return func(o *options) { o.reporter = r }
}
