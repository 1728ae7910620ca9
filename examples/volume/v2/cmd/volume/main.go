package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
)

// stopGrace is how long a stopping client lets its calls in flight run.
const stopGrace = 5 * time.Second

// build is the API version this binary speaks.
const build = "1.4"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: volume server|client|features [flags]")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(ctx, os.Args[2:], log)
	case "client":
		err = runClient(ctx, os.Args[2:], log)
	case "features":
		err = runFeatures(ctx, os.Args[2:], log)
	default:
		err = fmt.Errorf("unknown command %q: want server, client or features", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "volume:", err)
		os.Exit(1)
	}
}

func runServer(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	pind := fs.String("pind", "127.0.0.1:7070", "pind endpoints, comma-separated")
	id := fs.String("id", "", "instance id (required)")
	stdinEOF := fs.Bool("exit-on-stdin-eof", false, "stop gracefully when stdin ends (the parent process is gone)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		return fmt.Errorf("server: -id is required")
	}
	if *stdinEOF {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go fleet.StopAtEOF(os.Stdin, cancel)
	}
	svc := newVolumeService(*id)
	return fleet.Serve(ctx, fleet.ServerConfig{
		Listen: *listen, Pind: strings.Split(*pind, ","), ID: *id, Build: build, Logger: log,
	}, fleet.NewReporter(os.Stdout), &fleet.Tally{}, func(s *grpc.Server) {
		volumepb.RegisterVolumeServiceServer(s, svc)
	})
}

func runClient(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	pind := fs.String("pind", "127.0.0.1:7070", "pind endpoints, comma-separated")
	id := fs.String("id", "client", "client id")
	slotList := fs.String("slots", "", "server addresses, comma-separated (slot i is the i-th)")
	workers := fs.Int("workers", 2, "concurrent call sequences")
	pause := fs.Duration("pause", 10*time.Millisecond, "pause between two sequences of a worker")
	every := fs.Duration("report", 250*time.Millisecond, "report period")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pins, err := fleet.WatchPins(ctx, strings.Split(*pind, ","), log)
	if err != nil {
		return err
	}
	defer pins.Close()
	tally := &fleet.Tally{}
	slots, err := fleet.DialSlots(strings.Split(*slotList, ","), pins, fleet.NewObserver(tally), log)
	if err != nil {
		return err
	}
	defer slots.Close()
	rep := fleet.NewReporter(os.Stdout)
	report := func(kind string) fleet.Report {
		m, ok := pins.Cap(fleet.Service)
		capText := ""
		if ok {
			capText = m.String()
		}
		return fleet.Report{Kind: kind, Role: "client", ID: *id, Build: build, Cap: capText,
			Counts: tally.Counts(), Errors: tally.Errors()}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var hardStop context.CancelFunc
	callCtx, hardStop = context.WithCancel(context.Background())
	defer hardStop()
	context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, hardStop) })
	go fleet.Commands(ctx, os.Stdin, slots, func(slot int) {
		r := report(fleet.KindDrained)
		r.Slot = slot
		rep.Emit(r)
	}, cancel)
	go rep.Every(ctx, *every, func() fleet.Report { return report(fleet.KindClient) })

	c := &loadClient{id: *id, pins: pins, tally: tally}
	var wg sync.WaitGroup
	for n := range *workers {
		wg.Go(func() { c.worker(ctx, slots, n, *pause) })
	}
	wg.Wait()
	rep.Emit(report(fleet.KindFinal))
	return nil
}

func runFeatures(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("features", flag.ContinueOnError)
	pind := fs.String("pind", "127.0.0.1:7070", "pind endpoints, comma-separated")
	id := fs.String("id", "features", "client id")
	slotList := fs.String("slots", "", "server addresses, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pins, err := fleet.WatchPins(ctx, strings.Split(*pind, ","), log)
	if err != nil {
		return err
	}
	defer pins.Close()
	tally := &fleet.Tally{}
	slots, err := fleet.DialSlots(strings.Split(*slotList, ","), pins, fleet.NewObserver(tally), log)
	if err != nil {
		return err
	}
	defer slots.Close()
	c := &loadClient{id: *id, pins: pins, tally: tally}
	capText := ""
	if m, ok := pins.Cap(fleet.Service); ok {
		capText = m.String()
	}
	features, err := c.probe(slots)
	if err != nil {
		return err
	}
	fleet.NewReporter(os.Stdout).Emit(fleet.Report{Kind: fleet.KindFeatures, Role: "client", ID: *id, Build: build,
		Cap: capText, Counts: tally.Counts(), Errors: tally.Errors(), Features: features})
	return nil
}
