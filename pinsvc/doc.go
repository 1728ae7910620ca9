// Package pinsvc implements rollpin's PinService on etcd: the server behind
// pind, its etcd store, the auto-raise controller and the Go client.
//
// A Server keeps the pins and live instances of every gRPC service under a
// key prefix in etcd, follows them with one etcd watch, and serves reads and
// streams from that in-memory state. Several Servers may share one etcd;
// each serves the same state from its own watch.
//
//	srv, err := pinsvc.NewServer(etcdClient, pinsvc.Config{AdminToken: token})
//	if err != nil { ... }
//	if err := srv.Start(ctx); err != nil { ... }
//	defer srv.Close()
//	gs := grpc.NewServer()
//	rollpinv1.RegisterPinServiceServer(gs, srv)
//
// # Storage
//
// Keys under Config.Prefix (default "/rollpin/"):
//
//	<prefix>pins/<service>              rollpinv1.Pin, binary protobuf
//	<prefix>instances/<service>/<id>    rollpinv1.Instance, binary protobuf, on the
//	                                    registering pind's lease
//
// Values are binary protobuf (deterministic marshalling): compact, and
// decoded with the generated types; pindctl shows them as text. Service names
// are protobuf full names and instance ids contain no '/', so neither can
// reach outside its place in the key space.
//
// Every write is a compare-and-swap on the pin key's mod revision, through
// Server.UpdatePin: a request's expected_revision (ServiceState.pin_revision)
// must still be current, or the write fails with ABORTED and changes
// nothing; expected_revision 0 skips that check but the write is still
// atomic against what was read. The controller raises pins with
// Server.RaisePin (a CAS on the revision it saw; 0 creates the pin).
//
// # Registrations and fencing
//
// Register writes one key per served service under a single etcd lease per
// Server (O(1) keep-alives for any number of instances), in one etcd
// transaction that compares the mod revision of every pin it read: an
// instance whose manifest is below a pin on any track of that pin is refused
// with FAILED_PRECONDITION, and a pin raised in between makes the
// transaction fail and the check run again. Without a pin nothing is fenced.
// The keys are deleted when the stream ends, and vanish with the lease when
// the pind dies.
//
// # Floors and caps
//
// Floor is the elementwise minimum of the live instances' manifests; a track
// only some instances have takes the minimum over those (an instance without
// the track does not speak it). The effective cap is backport.Min(pin,
// floor). Instances are grouped by manifest, oldest first.
//
// # Watching
//
// WatchPins and Register send a full snapshot (PinUpdate.snapshot) and then
// one update per etcd watch response that touched the prefix, carrying the
// full state of each changed service and its revision. A client resuming from
// a revision gets what happened after it from an in-memory history (the last
// Config.HistorySize updates, at most Config.HistoryBytes); when its revision
// is older than that history (for instance after an etcd compaction or a
// pind restart) it gets a fresh snapshot. Publishing never blocks: each
// subscriber sends at its own pace. Pin and cap changes go out at once;
// instance churn that moves no cap reaches streams within 100ms, coalesced
// (every pin value still reaches every stream); a subscriber more than
// 16 updates behind gets them merged into one update holding the latest state
// of each changed service; one behind the whole history gets a snapshot —
// rather than holding anyone back or making the server buffer without bound.
//
// # Access control
//
// Writes (SetPin, Hold, Release, SetMode) are open when neither
// Config.AdminToken nor Config.WriterIdentities is set — the single-machine
// default, where pind listens on loopback. Otherwise they need the admin
// token as "authorization: Bearer <token>" metadata or a verified client
// certificate whose CN, DNS SAN or URI SAN is listed; missing credentials
// give UNAUTHENTICATED, wrong ones PERMISSION_DENIED.
//
// # Controller hook
//
// Server.Snapshot returns the immutable State (per service: pin, pin
// revision, instances, floor, effective cap and when this Server last saw
// the instance set change); Server.Subscribe signals every change. A
// Controller installed with SetController runs from Start to Close and
// supplies the RaiseStatus of every ServiceState; without one,
// DefaultRaiseStatus derives it from pin, floor, mode and hold.
package pinsvc
