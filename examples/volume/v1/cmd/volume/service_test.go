package main

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/internal/fleettest"
	"github.com/rollpin/rollpin/examples/volume/v1/volumepb"
)

// serve starts the 1.3 service with the rollpin server interceptors on
// loopback and returns a client capped at 1.3.
func serve(t *testing.T) volumepb.VolumeServiceClient {
	t.Helper()
	addr := fleettest.Serve(t, func(s *grpc.Server) { volumepb.RegisterVolumeServiceServer(s, newVolumeService("test")) })
	return volumepb.NewVolumeServiceClient(fleettest.Dial(t, addr, fleettest.CapAt(3)))
}

// TestSequenceChecks runs the load client's sequences against a 1.3
// server: every answer must match what was asked.
func TestSequenceChecks(t *testing.T) {
	vc := serve(t)
	c := &loadClient{&fleet.Client{ID: "t", Tally: &fleet.Tally{}}}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		c.sequence(vc, r, "owner-"+strconv.Itoa(i))
	}
	got := c.Tally.Counts()
	if got.Failed != 0 || got.Lost != 0 || got.Refused != 0 {
		t.Fatalf("failed %d, lost %d, refused %d, want 0; errors: %q", got.Failed, got.Lost, got.Refused, c.Tally.Errors())
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
