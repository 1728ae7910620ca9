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
// refused (WithNoHeaders); how repeated, empty and partial headers are read
// is under Wire protocol.
//
// # Wire protocol
//
// rollpin-version is the sender's own manifest restricted to the tracks
// reachable from the method's request and response types; rollpin-cap is the
// manifest a request was downgraded to, absent when it was not. Both are in
// the text form of backport.Manifest.
//
// A request is never assumed newer than what it proves. The server reads
// the headers of a request by these rules:
//
//   - A header sent more than once (several values of rollpin-version, or
//     of rollpin-cap, even equal ones) is ambiguous: INVALID_ARGUMENT, reason
//     BAD_HEADER. Neither the first nor the newest value is picked; a proxy
//     must replace rollpin headers, not append to them.
//   - A value that does not parse is INVALID_ARGUMENT, reason BAD_HEADER.
//   - An empty header, or one that names none of the method's tracks, counts
//     as absent.
//   - rollpin-version and rollpin-cap: the request was sent at
//     Min(version, cap); responses are downgraded to the version.
//   - rollpin-version alone: sent at the version; responses downgraded to it.
//   - rollpin-cap alone: sent at the cap, and since the caller proves no
//     more than the cap, responses are downgraded to the cap as well.
//   - Neither: the request proves nothing; it is read as sent at the
//     server's own version (NoHeadersAsOwn, the default) or refused with
//     FAILED_PRECONDITION, reason MISSING_HEADER (NoHeadersReject).
//   - A request sent at a version newer than the server on any track it
//     names is refused with FAILED_PRECONDITION, reason
//     SENDER_NEWER_THAN_SERVER.
//
// A header that names some but not all of the method's tracks proves the
// ones it names; the others are read as the server's own version (a caller
// built before a track joined the method cannot send its fields). A method
// whose messages reach no versioned track needs no header at all: none can
// change how its requests are read, so NoHeadersReject does not apply to it.
//
// The client reads the server's rollpin-version response header alike:
// several values fail the call with INTERNAL (as a malformed value does); an
// absent or empty one means a server that is not rollpin's, whose responses
// get no defaults.
//
// # Refusals
//
// Every FAILED_PRECONDITION and INVALID_ARGUMENT the interceptors produce is
// a refusal: its status carries a google.rpc.ErrorInfo in domain
// "rollpin.dev" whose Reason is one of the Refusal constants
// (RefusalFieldNewerThanPin, RefusalEnumValueNewerThanPin,
// RefusalMethodNewerThanPin, RefusalSenderNewerThanServer,
// RefusalAcrossMajors, RefusalBadHeader, RefusalMissingHeader,
// RefusalUnknownService) and whose Metadata names the service and method and
// what was refused (field path, since, cap, ...). The reasons and metadata
// keys are API. RefusalOf reads them, so that a program tells rollpin's
// refusal from a server's own FAILED_PRECONDITION without parsing text:
//
//	_, err := cli.Create(ctx, req)
//	if info, ok := interceptor.RefusalOf(err); ok && info.GetReason() == interceptor.RefusalFieldNewerThanPin {
//		// leave info.GetMetadata()["field"] unset until the pin is raised
//	}
//
// A refused message of a stream aborts the stream: grpc.ClientStream
// promises that any error of SendMsg or RecvMsg ends the call, so the client
// interceptor cancels it (the server's handler sees the cancellation) and
// every later SendMsg and RecvMsg returns the refusal.
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
