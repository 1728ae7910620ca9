package main

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v1/volumepb"
	"github.com/rollpin/rollpin/interceptor"
)

func serve(t *testing.T) volumepb.VolumeServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(interceptor.StreamServerInterceptor()),
	)
	volumepb.RegisterVolumeServiceServer(srv, newVolumeService("test"))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	pins := interceptor.StaticPins{fleet.Service: backport.MustManifest(
		backport.Entry{Track: fleet.Track, Version: backport.Version{Major: 1, Minor: 3}})}
	cc, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(pins)),
		grpc.WithChainStreamInterceptor(interceptor.StreamClientInterceptor(pins)),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return volumepb.NewVolumeServiceClient(cc)
}

// TestSequenceChecks runs the load client's sequences against a 1.3
// server: every answer must match what was asked.
func TestSequenceChecks(t *testing.T) {
	vc := serve(t)
	c := &loadClient{id: "t", tally: &fleet.Tally{}}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		c.sequence(vc, r, "owner-"+strconv.Itoa(i))
	}
	got := c.tally.Counts()
	if got.Failed != 0 || got.Lost != 0 || got.Refused != 0 {
		t.Fatalf("failed %d, lost %d, refused %d, want 0; errors: %q", got.Failed, got.Lost, got.Refused, c.tally.Errors())
	}
	if want := int64(40 * 5); got.OK != want {
		t.Errorf("ok = %d, want %d (five calls per sequence)", got.OK, want)
	}
}

// TestCreateVolumeValidates checks the server's refusals.
func TestCreateVolumeValidates(t *testing.T) {
	vc := serve(t)
	for _, tt := range []struct {
		name string
		req  *volumepb.CreateVolumeRequest
	}{
		{"no size", &volumepb.CreateVolumeRequest{Name: "a"}},
		{"no name", &volumepb.CreateVolumeRequest{SizeGb: 1}},
		{"unknown type", &volumepb.CreateVolumeRequest{Name: "a", SizeGb: 1, Type: 7}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vc.CreateVolume(context.Background(), tt.req)
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("CreateVolume(%v) error = %v, want INVALID_ARGUMENT", tt.req, err)
			}
		})
	}
}
