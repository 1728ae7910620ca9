// Package fleet holds what the example volume binaries share whatever their
// API version: serving with the rollpin interceptors while registered with
// pind, draining gracefully, dialing a set of server slots with the client
// interceptors, and reporting counters as JSON lines on stdout for the
// rolling-upgrade orchestrator.
//
// It does not import the example's generated code: the 1.3 and 1.4 binaries
// each link their own revision of package acme.volume.v1 and pass their
// service registration in.
//
// # Binaries
//
// A binary passes in only what touches its generated code: how to register
// its service for an instance id, and one sequence of calls of its load
// client. Main, ServerCommand and ClientCommand do the rest (flags, signals,
// pind, draining, slots, the workers' loop, reports):
//
//	fleet.Main("volume",
//		fleet.ServerCommand("1.4", func(s *grpc.Server, id string, sizes *fleet.Sizes, backfill bool) {
//			volumepb.RegisterVolumeServiceServer(s, newVolumeService(id, sizes))
//		}),
//		fleet.ClientCommand("1.4", func(c *fleet.Client, cc *grpc.ClientConn, r *rand.Rand, owner string) {
//			v, err := fleet.Call(c, volumepb.NewVolumeServiceClient(cc).GetVolume, req)
//			c.Record("GetVolume", err, mismatch(v))
//		}))
//
// A server keeps its volumes in a Table, which hands out clones. Given a
// database (-dsn), it also keeps each volume's name and size in the shared
// volumes table of examples/volume/migrations (Sizes), and one 1.4 server
// (-backfill) moves old rows to the 1.4 column online. SeedCommand and
// ReadbackCommand let the orchestrator create volumes through servers of
// one version and read them back through those of the other.
//
// # Serving
//
//	cfg := fleet.ServerConfig{Listen: "127.0.0.1:0", Pind: []string{"127.0.0.1:7070"}, ID: "volume-1", Build: "1.4"}
//	err := fleet.Serve(ctx, cfg, fleet.NewReporter(os.Stdout), &fleet.Tally{},
//		func(s *grpc.Server) { volumepb.RegisterVolumeServiceServer(s, srv) })
//
// # Reports
//
// Every process writes one JSON object per line on stdout (a Report). The
// orchestrator reads the latest report of each process; counters are
// cumulative.
//
// # Slots
//
// Clients hold one connection per server slot and run each sequence of calls
// (create, get, attach, list...) on one slot, because a server keeps its
// volumes in memory. Before a server is replaced the orchestrator writes
// "drain <slot>" on each client's stdin; the client stops starting sequences
// there, waits for those in flight, and answers with a "drained" report.
// "open <slot> <address>" brings the slot back with the new server. A
// server started with -exit-on-stdin-eof (StopAtEOF) and a client both stop
// when their stdin ends, so nothing outlives a dead orchestrator.
package fleet
