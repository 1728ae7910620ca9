// Package pinclient is the Go client of pind that gRPC services link: it
// keeps the pins of every service up to date, implements
// interceptor.PinSource, and registers a serving process as a live instance
// of the services it serves.
//
// It depends on nothing but grpc, protobuf, rollpin's generated API and
// package backport: importing it links neither pind's server side (package
// pinsvc, etcd, zap) nor the Prometheus client. Metrics go through the
// Reporter interface (WithMetrics); package pinclientprom implements it with
// Prometheus collectors.
//
// # Usage
//
//	pins, err := pinclient.NewClient([]string{"pind-0:7070", "pind-1:7070"},
//		pinclient.WithTransportCredentials(creds), // or WithInsecure(), explicitly
//		pinclient.WithRegistration(pinclient.Registration{
//			ID:       "volume-10.0.0.7:7000",
//			Services: pinclient.ServicesOf(grpcServer),
//		}),
//		pinclient.WithSnapshotFile("/var/lib/volume/pins.json"))
//	if err != nil { ... }
//	defer pins.Close()
//	if err := pins.Start(); err != nil { ... }
//	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
//	defer cancel()
//	if err := pins.WaitForSync(ctx); err != nil { ... } // refused, or no pind in 10s
//	cc, err := grpc.NewClient(target,
//		grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(pins)))
//
// # Lifecycle
//
// A Client lives from Start until Close: no context bounds its life, so a
// timeout used for the start-up cannot silently stop it. WaitForSync(ctx)
// is the only call bounded by a context; when ctx ends first the client
// keeps running. Close deregisters the instance, writes the snapshot file a
// last time and waits for every goroutine the client started.
//
// NewClient requires a choice of transport security: WithTransportCredentials
// (TLS, mTLS) or WithInsecure (plaintext, for a pind on loopback or a unix
// socket). There is no plaintext default.
//
// # Streams and reconnection
//
// Built WithRegistration, the client holds a Register stream, and the
// process is a live instance (part of the floors) for as long as that
// stream is open; otherwise it holds a WatchPins stream. Cap returns the
// effective cap of a service, Min(pin, floor), with one atomic load of the
// current Snapshot and one map lookup: no lock and no allocation.
//
// When a stream breaks the client tries every endpoint once right away, then
// backs off from DefaultBackoffBase (200ms) doubling to DefaultBackoffMax
// (2s), each delay jittered, and resumes from the last revision it received;
// meanwhile Cap keeps answering with the last known pins. The maximum stays
// well under pind's lease TTL (10s by default), so that a registration lost
// to an outage is back within a fraction of it. When the pind holding a
// registration died, its lease keeps the instance's key, and pind the ID
// owned, until the TTL: the client's claim through another pind is refused
// once (ALREADY_EXISTS) and made again as soon as pind reports the ID gone.
//
// A client that cannot reach pind logs it once at WARN, naming the
// addresses and how to start pind, retries quietly (DEBUG) and logs at INFO
// when it connects. Losing a working stream is one WARN line, likewise.
//
// # Refused registrations
//
// A registration pind refuses is reported as a *RegistrationError (Err,
// WaitForSync, WithOnError) and never retried as such; the client then
// watches the pins so that its own calls stay capped:
//
//   - FAILED_PRECONDITION (the instance is below a pin; wraps ErrFenced):
//     registers again once the pins no longer fence it (a roll-back);
//   - ALREADY_EXISTS (another live stream holds the instance ID; wraps
//     ErrIDTaken): registers again once no service lists the ID;
//   - INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED,
//     OUT_OF_RANGE: the same request can never succeed; it is not sent
//     again. A WatchPins refused with one of these ends the client's
//     streams (Cap keeps the last pins).
//
// Every other error (UNAVAILABLE, DEADLINE_EXCEEDED, ...) is retried with
// backoff.
//
// # Snapshot file
//
// WithSnapshotFile saves the pins atomically (temporary file, fsync,
// rename) from a goroutine of its own — never on the stream's — at most
// once per SnapshotFileInterval with the latest snapshot, and at Close. It
// is loaded at Start, so a process restarted while pind is unreachable caps
// its calls with the last known pins rather than none (Snapshot.Synced
// tells the two apart).
package pinclient
