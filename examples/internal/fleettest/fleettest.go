package fleettest

import (
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/interceptor"
)

// Serve starts a gRPC server with the rollpin server interceptors on a
// loopback port, with the services register registers, and returns its
// address. The server stops when the test ends.
func Serve(t testing.TB, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(interceptor.StreamServerInterceptor()),
	)
	register(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// Dial returns a connection to addr with the rollpin client interceptors
// capped by pins. It is closed when the test ends.
func Dial(t testing.TB, addr string, pins interceptor.PinSource) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(pins)),
		grpc.WithChainStreamInterceptor(interceptor.StreamClientInterceptor(pins)),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// CapAt returns pins capping the example's service at track version
// 1.minor.
func CapAt(minor uint32) interceptor.StaticPins {
	return interceptor.StaticPins{fleet.Service: backport.MustManifest(
		backport.Entry{Track: fleet.Track, Version: backport.Version{Major: 1, Minor: minor}})}
}
