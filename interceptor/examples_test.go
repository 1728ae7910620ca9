package interceptor_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/interceptor"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

type exampleServer struct {
	itestv1.UnimplementedVolumeServiceServer
}

func (exampleServer) Create(_ context.Context, r *itestv1.CreateRequest) (*itestv1.Volume, error) {
	return &itestv1.Volume{Name: r.GetName(), Tier: r.GetTier(), Label: r.GetLabel()}, nil
}

// Example wires the four interceptors: the server pair on grpc.NewServer,
// the client pair, with the pins of the services it calls, on
// grpc.NewClient. Here the client's pin holds the service at 1.1, so the
// fields and methods added in 1.2 are not sent.
func Example() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(interceptor.StreamServerInterceptor()),
	)
	itestv1.RegisterVolumeServiceServer(srv, exampleServer{})
	go srv.Serve(lis)
	defer srv.Stop()

	cap, err := backport.ParseManifest("rollpin.itest.v1=1.1")
	if err != nil {
		log.Fatal(err)
	}
	pins := interceptor.NewAtomicPins(interceptor.StaticPins{"rollpin.itest.v1.VolumeService": cap})
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(pins)),
		grpc.WithChainStreamInterceptor(interceptor.StreamClientInterceptor(pins)),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := itestv1.NewVolumeServiceClient(conn)

	v, err := client.Create(context.Background(), &itestv1.CreateRequest{
		Name: "db", Tier: itestv1.Tier_TIER_NVME, Label: "gold",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("created %s: tier %s, label %q\n", v.GetName(), v.GetTier(), v.GetLabel())

	_, err = client.Provision(context.Background(), &itestv1.CreateRequest{Name: "db"})
	fmt.Println(status.Code(err) == codes.FailedPrecondition)

	// Raising the pin takes effect on the next call.
	pins.Store(interceptor.StaticPins{"rollpin.itest.v1.VolumeService": backport.MustManifest(
		backport.Entry{Track: "rollpin.itest.v1", Version: backport.Version{Major: 1, Minor: 2}})})
	v, err = client.Create(context.Background(), &itestv1.CreateRequest{
		Name: "db", Tier: itestv1.Tier_TIER_NVME, Label: "gold",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("created %s: tier %s, label %q\n", v.GetName(), v.GetTier(), v.GetLabel())
	// Output:
	// created db: tier TIER_SSD, label ""
	// true
	// created db: tier TIER_NVME, label "gold"
}
