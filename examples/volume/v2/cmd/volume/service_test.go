package main

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
	"github.com/rollpin/rollpin/interceptor"
)

// serve starts the 1.4 service with the rollpin server interceptors on
// loopback and returns a client capped by pins.
func serve(t *testing.T, pins interceptor.PinSource) volumepb.VolumeServiceClient {
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

func capAt(minor uint32) interceptor.StaticPins {
	return interceptor.StaticPins{fleet.Service: backport.MustManifest(
		backport.Entry{Track: fleet.Track, Version: backport.Version{Major: 1, Minor: minor}})}
}

// TestSequenceChecks runs the load client's sequences against a 1.4 server
// under a 1.3 and a 1.4 cap: every answer must match what was asked, and
// under 1.3 the 1.4 features must be refused, never failed.
func TestSequenceChecks(t *testing.T) {
	for _, tt := range []struct {
		name    string
		minor   uint32
		refused bool
	}{{"cap 1.3", 3, true}, {"cap 1.4", 4, false}} {
		t.Run(tt.name, func(t *testing.T) {
			pins := capAt(tt.minor)
			vc := serve(t, pins)
			c := &loadClient{id: "t", pins: pins, tally: &fleet.Tally{}}
			r := rand.New(rand.NewPCG(1, 2))
			for i := range 60 {
				c.sequence(vc, r, "owner-"+strconv.Itoa(i))
			}
			got := c.tally.Counts()
			if got.Failed != 0 || got.Lost != 0 {
				t.Fatalf("failed %d, lost %d, want 0; errors: %q", got.Failed, got.Lost, c.tally.Errors())
			}
			if got.OK == 0 {
				t.Errorf("ok = 0, want calls to succeed")
			}
			if tt.refused && (got.NewMethodRefused == 0 || got.NewMethodOK != 0 || got.MultiAttachOK != 0 || got.NVMeOK != 0) {
				t.Errorf("under 1.3: %+v, want ResizeVolume refused and no 1.4 feature at work", got)
			}
			if !tt.refused && (got.Refused != 0 || got.NewMethodOK == 0 || got.MultiAttachOK == 0 || got.NVMeOK == 0) {
				t.Errorf("under 1.4: %+v, want every 1.4 feature at work and nothing refused", got)
			}
		})
	}
}

// TestProbe checks the features probe's outcomes under each cap.
func TestProbe(t *testing.T) {
	for _, tt := range []struct {
		name  string
		minor uint32
		want  map[string]string
	}{
		{"cap 1.3", 3, map[string]string{"nvme": "downgraded", "size_mib": "downgraded", "thick": "withheld", "resize": "refused", "multi_attach": "refused"}},
		{"cap 1.4", 4, map[string]string{"nvme": "ok", "size_mib": "ok", "thick": "ok", "resize": "ok", "multi_attach": "ok"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pins := capAt(tt.minor)
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
			defer srv.Stop()
			tally := &fleet.Tally{}
			slots, err := fleet.DialSlots([]string{lis.Addr().String()}, pins, fleet.NewObserver(tally), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer slots.Close()
			c := &loadClient{id: "probe", pins: pins, tally: tally}
			got, err := c.probe(slots)
			if err != nil {
				t.Fatalf("probe: %v", err)
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("probe()[%q] = %q, want %q", k, got[k], w)
				}
			}
			if n := tally.Counts(); n.Failed != 0 || n.Lost != 0 {
				t.Errorf("probe: failed %d, lost %d; errors %q", n.Failed, n.Lost, tally.Errors())
			}
		})
	}
}
