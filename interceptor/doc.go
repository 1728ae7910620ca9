// Package interceptor makes gRPC clients and servers pin-aware: a client caps
// what it sends at the pin of the target service, a server fills the
// defaults of fields an older caller could not know and answers it in its
// own, older shape.
//
// # Usage
//
// A process wires the four interceptors once; pins comes from pind
// (pinclient.Client) or, without pind, from a StaticPins or AtomicPins:
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(pins)),
//		grpc.WithChainStreamInterceptor(interceptor.StreamClientInterceptor(pins)),
//	)
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(interceptor.StreamServerInterceptor()),
//	)
//
// # Client
//
// For every call the client looks up the cap of the target service (the
// service part of the full method name) in its PinSource. A method whose
// (rollpin.v1.method).since is above the cap fails with FAILED_PRECONDITION
// without being sent, unless a fallback was registered with WithFallback.
// The request is downgraded to the cap with backport.Downgrade (a populated
// REJECT field fails with FAILED_PRECONDITION, not sent), the headers
// rollpin-version and rollpin-cap are attached, and the response of an older
// server gets its defaults filled. Streams do the same for every message.
// A service without a cap is sent uncapped (or refused: WithUnknownService).
//
// # Server
//
// The server reads rollpin-version and rollpin-cap; the request speaks
// Min(version, cap). A request newer than the server on any track is refused
// with FAILED_PRECONDITION (the caller's pin is wrong); a malformed header
// with INVALID_ARGUMENT. Otherwise the declared defaults are filled, the
// handler runs, and responses are downgraded to the caller's rollpin-version.
// The server sends its own rollpin-version in the response headers. A
// request without headers is treated as sent at the server's own version, or
// refused (WithNoHeaders).
//
// # Wire protocol
//
// rollpin-version is the sender's own manifest restricted to the tracks
// reachable from the method's request and response types; rollpin-cap is the
// manifest a request was downgraded to, absent when it was not. Both are in
// the text form of backport.Manifest.
//
// # Performance
//
// Per-method facts (descriptor, since, reachable tracks, header values) are
// computed on first use and cached in a copy-on-write map; parsed header
// values are cached in a bounded map. When the pin covers this binary and
// the peer runs the same version, a call costs one PinSource lookup, a few
// comparisons and the allocations of attaching and reading one header.
//
// # Metrics and logs
//
// WithMetrics reports downgraded calls, dropped fields, downgraded enum
// values, filled defaults and rejected calls to a Reporter; the
// interceptor/prometheus package provides Prometheus collectors. WithLogger
// sets a *slog.Logger for refusals (Warn), fallbacks (Info) and downgrades
// (Debug).
//
// # Dynamic descriptors
//
// WithFiles makes the interceptors take method descriptors and the own
// manifest from a given protoregistry.Files instead of
// protoregistry.GlobalFiles, so that proxies and tests can serve dynamicpb
// messages.
package interceptor
