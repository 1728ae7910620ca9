package pinclient_test

import (
	"context"
	"errors"
	"log"
	"net"

	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/interceptor"
	"github.com/rollpin/rollpin/pinsvc/pinclient"
)

// A serving process registers as a live instance of the services on its
// grpc.Server and caps its own outgoing calls with the pins it receives.
func ExampleNewClient() {
	ctx := context.Background()
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()))
	// ... register the services on gs ...
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	pins, err := pinclient.NewClient([]string{"pind-0:7070", "pind-1:7070"},
		pinclient.WithRegistration(pinclient.Registration{
			ID:       "volume-" + lis.Addr().String(),
			Services: pinclient.ServicesOf(gs),
			Address:  lis.Addr().String(),
			Build:    "v1.4.0",
		}),
		pinclient.WithSnapshotFile("/var/lib/volume/pins.json"),
		pinclient.WithOnError(func(err error) {
			if errors.Is(err, pinclient.ErrFenced) {
				log.Printf("this build is older than the pin: %v", err)
			}
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer pins.Close()
	if err := pins.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := pins.WaitForSync(ctx); err != nil {
		log.Fatal(err) // fenced, or ctx ended before pind answered
	}
	// Outgoing calls are capped at Min(pin, floor) of their target service.
	cc, err := grpc.NewClient("volume:7000", grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(pins)))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	go gs.Serve(lis)
}
