// Package pinsvc implements rollpin's PinService on etcd: the server behind
// pind, its etcd store and the auto-raise controller. The Go client that
// serving processes use to register and to cap their calls is package
// pinclient, which links none of this package's dependencies (etcd, zap,
// Prometheus).
//
// A Server keeps the pins and live instances of every gRPC service under a
// key prefix in etcd, follows them with one etcd watch, and serves reads and
// streams from that in-memory state. Several Servers may share one etcd;
// each serves the same state from its own watch.
//
//	srv, err := pinsvc.NewServer(etcdClient, pinsvc.WithAdminToken(token))
//	if err != nil { ... }
//	if err := srv.Start(ctx); err != nil { ... }
//	defer srv.Close()
//	gs := grpc.NewServer()
//	rollpinv1.RegisterPinServiceServer(gs, srv)
//
// # Options and defaults
//
// NewServer takes functional options (Option); without any, every setting
// has its default, documented on its With function:
//
//   - WithPrefix: DefaultPrefix, "/rollpin/";
//   - WithSettle: DefaultSettle, 60s, the controller's settle window;
//   - WithLeaseTTL: DefaultLeaseTTL, 10s, the TTL of the lease holding this
//     Server's registrations and (by default) of the controller's election
//     session;
//   - WithHistory: DefaultHistorySize (1024 updates) and DefaultHistoryBytes
//     (64 MiB) of resumable history;
//   - WithName: hostname-pid; WithServerLogger: slog.Default();
//     WithRegisterer: none (no metrics registered);
//   - WithAdminToken, WithWriterIdentities, WithRegisterToken,
//     WithRegisterIdentities: none (writes and registration open);
//   - WithRaiseInterval: Settle/10, between 50ms and 1s; WithElectionTTL:
//     the lease TTL.
//
// A RaiseController evaluates every
// Settle/10, between 50ms and 1s (WithRaiseInterval), and campaigns with a
// session TTL of LeaseTTL (WithElectionTTL).
//
// # Storage
//
// Keys under the prefix (WithPrefix):
//
//	<prefix>pins/<service>              rollpinv1.Pin, binary protobuf
//	<prefix>instances/<service>/<id>    rollpinv1.Instance, binary protobuf, on the
//	                                    registering pind's lease
//	<prefix>controller/                 the controller's election
//
// Values are binary protobuf (deterministic marshalling): compact, and
// decoded with the generated types; pindctl shows them as text. Service names
// are protobuf full names and instance ids contain no '/', so neither can
// reach outside its place in the key space.
//
// Every operator write (SetPin, Hold, Release, SetMode) is one etcd
// transaction that compares the pin key's mod revision and the mod
// revisions of the service's instance keys with what the decision read: a
// request's expected_revision (ServiceState.pin_revision) must still be
// current, or the write fails with ABORTED and changes nothing;
// expected_revision 0 skips that check but the write is still atomic
// against what was read, and creating a pin is compare-and-create (a pin
// created meanwhile by another writer fails the write with ABORTED). An
// instance that registers while a raise is decided makes the raise decide
// again with it: a raise refused above the floor cannot race a
// registration. The controller's raises carry the same guards plus its
// leadership (see The auto-raise controller).
//
// # Registrations and fencing
//
// Register writes one key per served service under a single etcd lease per
// Server (O(1) keep-alives for any number of instances), in one etcd
// transaction that compares the mod revision of every pin it read and of
// every instance key: an instance whose manifest is below a pin on any
// track of that pin is refused with FAILED_PRECONDITION (reason FENCED), and
// a pin raised in between makes the transaction fail and the check run
// again. Without a pin nothing is fenced.
//
// An instance announces the track of every service it registers (its
// manifest names the proto package of each service; INVALID_ARGUMENT
// otherwise), and fencing checks that track even where the pin does not
// name it yet: the instance may then not be below the live instances of the
// service on it, whose version senders already speak. Naming the track in
// the pin (pindctl pin set --force) is the roll-back path.
//
// An instance ID is owned by the Register stream that created it until its
// lease ends: a second Register of the same ID, through this pind or
// another, is refused with ALREADY_EXISTS (reason INSTANCE_ID_TAKEN, the
// ErrorInfo metadata naming the holder's pind and start time) and changes
// nothing. The one exception is the owner itself: a Register carrying the
// same claim (RegisterRequest.claim, a secret the process picks once; pind
// keeps only its SHA-256 in Instance.claim_digest) takes the keys over, so
// an instance failing over from a pind cut off from etcd moves its keys
// before their lease can expire and never leaves the floor. The old
// stream's clean-up then leaves the moved keys alone (it deletes only keys
// still at the revision it wrote). The keys are deleted when the stream
// ends, and vanish with the lease when the pind dies; the ID can be claimed
// by anyone after that.
//
// A registration lists at most MaxServicesPerInstance (63) services: one
// etcd transaction compares two keys per service plus the contract marks,
// and etcd's default --max-txn-ops is 128. A longer list is refused with INVALID_ARGUMENT,
// reason TOO_MANY_SERVICES, which no retry can fix.
//
// # Losing etcd
//
// Every etcd call a request makes is bounded (half the lease TTL, at least
// 5s). A Server watches its contact with etcd: when the keep-alives of its
// registration lease go unanswered for half the lease TTL, or its reads or
// its watch fail for a whole TTL, it reports NOT_SERVING (ReportHealth),
// refuses new Register and WatchPins streams and ends the open ones with
// UNAVAILABLE. It leaves its registrations to the lease rather than deleting
// them, so that their instances, failing over to another pind, register
// there (taking the keys over) before the lease can expire: an instance cut
// off with its pind never drops out of the floor, and no controller raises
// the pin above it. A lost lease (revoked, expired) ends its Register
// streams the same way. The Server reports SERVING again once a read and a
// new watch succeed. Close never waits for etcd beyond that bound.
//
// # Floors and caps
//
// Floor is the elementwise minimum of the live instances' manifests; a track
// only some instances have takes the minimum over those (an instance without
// the track does not speak it). The effective cap is backport.Min(pin,
// floor): the floor always wins, since an older live instance is a fact.
// Instances are grouped by manifest, oldest first.
//
// # Watching
//
// WatchPins and Register send a full snapshot (PinUpdate.snapshot) and then
// one update per etcd watch response that touched the prefix, carrying the
// full state of each changed service and its revision. A client resuming from
// a revision gets what happened after it from an in-memory history (the last
// WithHistory updates, at most its byte bound); when its revision
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
// WithAdminToken nor WithWriterIdentities is set — the single-machine
// default, where pind listens on loopback. Otherwise they need the admin
// token as "authorization: Bearer <token>" metadata (the scheme in any
// case) or a verified client certificate whose CN, DNS SAN or URI SAN is
// listed; missing credentials give UNAUTHENTICATED (reason
// CREDENTIALS_MISSING), wrong ones PERMISSION_DENIED (CREDENTIALS_REJECTED).
//
// Registration needs credentials as soon as the Server has any (admin
// token, writer identities, WithRegisterToken or
// WithRegisterIdentities). It accepts the register token or the admin
// token as a bearer token, a writer identity, or a certificate identity
// whose patterns in WithRegisterIdentities cover every service of the
// request. The mapping from certificate to services:
//
//	identity (CN, DNS SAN or URI SAN) -> patterns
//	"*"                every service
//	"acme.volume.v1.*" every service whose full name starts with
//	                   "acme.volume.v1." (the package and its sub-packages)
//	"acme.volume.v1.VolumeService"  that service only
//
// pind takes it as --register-identities volume=acme.volume.v1.*,... Reads
// (GetPins, WatchPins, ListInstances) are restricted only by the transport
// (use mTLS).
//
// # Refusals
//
// Every refusal carries a google.rpc.ErrorInfo in domain "rollpin.dev" with
// a stable reason: INVALID_REQUEST (INVALID_ARGUMENT: malformed input),
// UNKNOWN_TRACK (INVALID_ARGUMENT: a pin naming a track nobody announces,
// without --force), TOO_MANY_SERVICES, FENCED (FAILED_PRECONDITION),
// PIN_ABOVE_FLOOR (FAILED_PRECONDITION: a raise above live instances
// without --force), PIN_CONFLICT (ABORTED: expected_revision is stale),
// INSTANCE_ID_TAKEN (ALREADY_EXISTS), UNKNOWN_SERVICE (NOT_FOUND),
// CREDENTIALS_MISSING and CREDENTIALS_REJECTED.
//
// # The auto-raise controller
//
// NewServer installs a RaiseController (SetController replaces it, nil
// removes it); it runs from Start to Close. Every pind sharing an etcd runs
// one, and an etcd election under <prefix>controller/ picks the single one
// that acts; the others wait and take over within about the election TTL
// when the leader dies, at once when it closes (it resigns). While leading
// it evaluates every service with DecideRaise:
//
//   - no live instance: NO_INSTANCES, the pin stays;
//   - the pin already names every version every live instance runs:
//     UP_TO_DATE (BLOCKED when the pin is above live instances);
//   - a hold: HELD; a MANUAL pin: MANUAL — the controller never writes
//     either;
//   - the floor is not above the pin: BLOCKED, naming the instances below
//     the newest manifest seen;
//   - otherwise SETTLING until Settle has passed since the later of the last
//     change of the live instances and the last write of the pin, then a
//     raise of every track to the floor. A track is never lowered: the
//     target is the pin lifted to the floor plus the floor's new tracks.
//
// A service with live instances and no pin gets a pin created in AUTO mode
// at its first floor once that floor has settled. Writing a pin restarts the
// window, so that an operator lowering a pin for a roll-back gives the older
// instances time to register before the controller could raise it again.
//
// Each raise is one etcd transaction that succeeds only when the pin is
// still at the revision the decision read, no instance of the service
// registered after the state the decision was made on, and this pind still
// leads; a lost race is counted and decided again on fresh state. Raises
// are logged with their reason and recorded with Pin.updated_by
// ControllerIdentity. Metrics (registered on WithRegisterer):
// rollpin_pind_auto_raises_total{service,kind}, with kind "raise" or
// "create"; rollpin_pind_auto_raise_conflicts_total;
// rollpin_pind_controller_leader.
//
// The RaiseStatus of every ServiceState comes from the installed Controller;
// without one, DefaultRaiseStatus derives it from pin, floor, mode and hold.
// Server.Snapshot returns the immutable State (per service: pin, pin
// revision, instances, floor, effective cap and when this Server last saw
// the instance set change) and Server.Subscribe signals every change, for
// controllers of one's own.
package pinsvc
