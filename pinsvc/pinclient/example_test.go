package pinclient_test

import (
	"context"
	"errors"
	"log"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/rollpin/rollpin/interceptor"
	"github.com/rollpin/rollpin/pinsvc/pinclient"
)

// A serving process registers as a live instance of the services on its
// grpc.Server and caps its own outgoing calls with the pins it receives.
func ExampleNewClient() {
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()))
	// ... register the services on gs ...
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	creds, err := credentials.NewClientTLSFromFile("/etc/volume/pind-ca.pem", "")
	if err != nil {
		log.Fatal(err)
	}
	pins, err := pinclient.NewClient([]string{"pind-0:7070", "pind-1:7070"},
		pinclient.WithTransportCredentials(creds), // or pinclient.WithInsecure() for a pind on loopback
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
	defer pins.Close() // the client lives until Close
	if err := pins.Start(); err != nil {
		log.Fatal(err)
	}
	// Only the wait is bounded: the client keeps following the pins after it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pins.WaitForSync(ctx); err != nil {
		log.Fatal(err) // refused (fenced...), or no pind answered within 10s
	}
	// Outgoing calls are capped at Min(pin, floor) of their target service.
	cc, err := grpc.NewClient("volume:7000", grpc.WithTransportCredentials(creds),
		grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(pins)))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	go gs.Serve(lis)
}
