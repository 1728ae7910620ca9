package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/rollpin/rollpin/examples/internal/fleet"
)

// build is the API version this binary speaks.
const build = "1.4"

func main() {
	fleet.Main("volume", fleet.ServerCommand(build, register), fleet.ClientCommand(build, runSequence),
		fleet.Command{Name: "features", Run: runFeatures}, fleet.ReadbackCommand(build, readback))
}

func runFeatures(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("features", flag.ContinueOnError)
	pind := fs.String("pind", "127.0.0.1:7070", "pind endpoints, comma-separated")
	id := fs.String("id", "features", "client id")
	slotList := fs.String("slots", "", "server addresses, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := fleet.Connect(ctx, *pind, *slotList, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := &loadClient{&fleet.Client{ID: *id, Pins: conn.Pins, Tally: conn.Tally}}
	capText := fleet.CapText(conn.Pins)
	features, err := c.probe(conn.Slots)
	if err != nil {
		return err
	}
	fleet.NewReporter(os.Stdout).Emit(fleet.Report{Kind: fleet.KindFeatures, Role: "client", ID: *id, Build: build,
		Cap: capText, Counts: conn.Tally.Counts(), Errors: conn.Tally.Errors(), Features: features})
	return nil
}
