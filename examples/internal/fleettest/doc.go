// Package fleettest starts what the tests of the example volume binaries
// need: a server with the rollpin server interceptors on loopback, a
// connection to it with the client interceptors under given pins, and
// static caps of the example's track.
//
// Like package fleet it does not import the example's generated code: each
// test passes its own service registration in.
//
// # Usage
//
//	addr := fleettest.Serve(t, func(s *grpc.Server) { volumepb.RegisterVolumeServiceServer(s, svc) })
//	vc := volumepb.NewVolumeServiceClient(fleettest.Dial(t, addr, fleettest.CapAt(3)))
package fleettest
