package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
	"github.com/rollpin/rollpin/interceptor"
	rollpinprom "github.com/rollpin/rollpin/interceptor/prometheus"
	"github.com/rollpin/rollpin/pinsvc/pinclient"
)

func main() {
	pind := flag.String("pind", "127.0.0.1:7070", "pind endpoints, comma-separated")
	flag.DurationVar(&pindWait, "wait", pindWait, "how long to wait for pind's first answer")
	flag.Parse()
	fmt.Fprintf(os.Stderr, "wire needs a running pind at %s: start one with `go run ./cmd/pind` (or pass -pind ADDR)\n", *pind)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// Metrics are optional: register the collectors where you like.
	metrics := rollpinprom.NewMetrics()
	promclient.NewRegistry().MustRegister(metrics)
	opts := []interceptor.Option{interceptor.WithMetrics(metrics)}

	endpoints := strings.Split(*pind, ",")
	addr, stopServer, err := Serve(ctx, endpoints, "127.0.0.1:0", opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wire:", err)
		os.Exit(1)
	}
	defer stopServer()
	if err := Call(ctx, endpoints, addr, os.Stdout, opts...); err != nil {
		fmt.Fprintln(os.Stderr, "wire:", err)
		os.Exit(1)
	}
}

// Serve serves the volume service on listen with the rollpin server
// interceptors, registered with pind while it serves. stop drains the
// server, then leaves pind: the pin cannot rise above this instance while
// it still answers.
func Serve(ctx context.Context, pind []string, listen string, opts ...interceptor.Option) (addr string, stop func(), err error) {
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return "", nil, err
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor(opts...)),
		grpc.ChainStreamInterceptor(interceptor.StreamServerInterceptor(opts...)),
	)
	volumepb.RegisterVolumeServiceServer(srv, volumes{})

	reg, err := pinclient.NewClient(pind,
		pinclient.WithInsecure(), // pind on loopback; use WithTransportCredentials otherwise
		pinclient.WithRegistration(pinclient.Registration{
			ID:       "wire-" + lis.Addr().String(),
			Services: pinclient.ServicesOf(srv), // acme.volume.v1.VolumeService
			Address:  lis.Addr().String(),
			Build:    "wire example",
			// Manifest defaults to this binary's own: acme.volume.v1=1.4.
		}))
	if err != nil {
		lis.Close()
		return "", nil, err
	}
	if err := reg.Start(); err != nil { // runs until reg.Close
		lis.Close()
		return "", nil, err
	}
	if err := waitForPind(ctx, reg, pind); err != nil { // fenced, or no pind
		reg.Close()
		lis.Close()
		return "", nil, err
	}
	go srv.Serve(lis)
	return lis.Addr().String(), func() { srv.GracefulStop(); reg.Close() }, nil
}

// Call creates a volume on the server at target through the rollpin client
// interceptors, with the pins pind serves, and prints what it got.
func Call(ctx context.Context, pind []string, target string, out io.Writer, opts ...interceptor.Option) error {
	pins, err := pinclient.NewClient(pind, pinclient.WithInsecure()) // watches the pins of every service
	if err != nil {
		return err
	}
	defer pins.Close()
	if err := pins.Start(); err != nil {
		return err
	}
	if err := waitForPind(ctx, pins, pind); err != nil {
		return err
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(pins, opts...)),
		grpc.WithChainStreamInterceptor(interceptor.StreamClientInterceptor(pins, opts...)),
	)
	if err != nil {
		return err
	}
	defer conn.Close()
	vc := volumepb.NewVolumeServiceClient(conn)

	if cap, ok := pins.Cap("acme.volume.v1.VolumeService"); ok {
		fmt.Fprintf(out, "cap of acme.volume.v1.VolumeService: %s\n", cap)
	} else {
		fmt.Fprintln(out, "acme.volume.v1.VolumeService has no pin and no live instance yet: calls are not capped")
	}
	v, err := vc.CreateVolume(ctx, &volumepb.CreateVolumeRequest{
		Name: "db", SizeMib: 1536, Type: volumepb.VolumeType_VOLUME_TYPE_NVME, Thin: true,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created %s: %s, %d MiB, %d GiB\n", v.GetName(), v.GetType(), v.GetSizeMib(), v.GetSizeGb())

	// A feature of a newer version: ask the pins before offering it.
	if err := interceptor.CanSend(pins, volumepb.VolumeService_ResizeVolume_FullMethodName); err != nil {
		fmt.Fprintf(out, "ResizeVolume not available yet: %s\n", status.Code(err))
		return nil
	}
	v, err = vc.ResizeVolume(ctx, &volumepb.ResizeVolumeRequest{Id: v.GetId(), SizeMib: 4096})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "resized %s: %d MiB\n", v.GetName(), v.GetSizeMib())
	return nil
}

// pindWait bounds the wait for pind's first answer (-wait).
var pindWait = 10 * time.Second

// waitForPind waits up to pindWait for the first pins from pind; only the
// wait is bounded, the client keeps running after it.
func waitForPind(ctx context.Context, pins *pinclient.Client, pind []string) error {
	ctx, cancel := context.WithTimeout(ctx, pindWait)
	defer cancel()
	err := pins.WaitForSync(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no pind answered at %s within %v: start one with `go run ./cmd/pind` or pass -pind ADDR", strings.Join(pind, ","), pindWait)
	}
	return err
}

// volumes is a toy VolumeService that remembers nothing.
type volumes struct {
	volumepb.UnimplementedVolumeServiceServer
}

func (volumes) CreateVolume(_ context.Context, r *volumepb.CreateVolumeRequest) (*volumepb.Volume, error) {
	size := r.GetSizeMib()
	if size == 0 {
		size = r.GetSizeGb() * 1024
	}
	return &volumepb.Volume{Id: "1", Name: r.GetName(), Type: r.GetType(), SizeMib: size, Thin: r.GetThin()}, nil
}

func (volumes) ResizeVolume(_ context.Context, r *volumepb.ResizeVolumeRequest) (*volumepb.Volume, error) {
	return &volumepb.Volume{Id: r.GetId(), Name: "db", SizeMib: r.GetSizeMib()}, nil
}
