// Command pind serves rollpin's PinService: the version pins of gRPC
// services, stored in etcd, their live instances, and a live stream of every
// change to every process that uses them.
//
// With no --etcd-endpoints pind runs an embedded single-member etcd in
// --data-dir (default $XDG_STATE_HOME/rollpin/pind, else
// ~/.local/state/rollpin/pind): one command gives a working daemon whose
// pins survive restarts.
//
//	pind                                   # loopback, embedded etcd
//	pind --listen :7070 --etcd-endpoints https://etcd-0:2379,https://etcd-1:2379 \
//	     --etcd-ca ca.pem --tls-cert pind.pem --tls-key pind-key.pem --tls-ca clients.pem \
//	     --writer-identities ops --metrics-listen :9090
//
// # Configuration
//
// Every flag can also be set with an environment variable PIND_<FLAG> in
// upper snake case (--etcd-endpoints → PIND_ETCD_ENDPOINTS); a flag given on
// the command line wins. Secrets (--admin-token, --etcd-password) are best
// passed that way. Run pind --help for the list; pind --version prints the build.
//
// # Security
//
// With --tls-cert and --tls-key the gRPC port speaks TLS; adding --tls-ca
// requires every client to present a certificate signed by it (mutual TLS).
// Certificate, key and CA bundle are read again when their files change
// (checked at most once a second, on a handshake), so certificates rotate
// without a restart; a change that does not load keeps the last good one.
//
// Writes are open to every client unless --admin-token or
// --writer-identities is set. Registration is open unless pind has any
// credentials (--admin-token, --writer-identities, --register-token,
// --register-identities); then an instance registers with the register or
// admin token, or with a client certificate allowed to register its
// services:
//
//	--register-identities volume=acme.volume.v1.*,volume=acme.types.v1.TypeService,ops=*
//
// maps the certificate identity (CN, DNS SAN or URI SAN) "volume" to every
// service of package acme.volume.v1 (and its sub-packages) and to one
// service of acme.types.v1, and "ops" to every service (see package pinsvc).
// pind refuses to start when an identity list is given without --tls-ca
// (nobody would have an identity), and when a token is given without TLS
// unless --insecure-token accepts that it crosses the network in clear text.
//
// # Data directory
//
// The embedded etcd's --data-dir is locked (pind.lock, holding the pid):
// a second pind on the same directory exits at once with status 1 and one
// line naming the lock and the process holding it. SIGINT or SIGTERM during
// start ends pind too. etcd's own warnings go to pind's log, with
// component=etcd.
//
// # Operations
//
// pind serves the standard gRPC health service (grpc.health.v1), Prometheus
// metrics on --metrics-listen at /metrics (pins, services, instances,
// subscribers, writes by rpc and code, watch lag, the auto-raise controller,
// and per-RPC gRPC metrics), and logs with log/slog (--log-format json or
// text, --log-level). SIGTERM or SIGINT shuts it down gracefully: health
// turns NOT_SERVING, streams end with UNAVAILABLE so clients move to another
// pind, calls in flight finish, the registration lease is revoked.
package main
