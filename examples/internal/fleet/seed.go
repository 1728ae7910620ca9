package fleet

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"

	"google.golang.org/grpc"
)

// SeedFunc creates one volume of the given name and size in GiB on cc and
// returns its id.
type SeedFunc func(c *Client, cc *grpc.ClientConn, name string, gb int64) (id string, ok bool)

// ReadFunc reads volume id on cc and checks it is sized mib, recording
// the call in c.Tally.
type ReadFunc func(c *Client, cc *grpc.ClientConn, id string, mib int64)

// SeedCommand is the "seed" subcommand: it creates -n volumes through the
// server slots and reports them ("seeded": size in MiB by id). The demo
// reads them back later through servers of the other version.
func SeedCommand(build string, create SeedFunc) Command {
	return Command{Name: "seed", Run: func(ctx context.Context, args []string, log *slog.Logger) error {
		fs := flag.NewFlagSet("seed", flag.ContinueOnError)
		pind := fs.String("pind", "127.0.0.1:7070", "pind endpoints, comma-separated")
		id := fs.String("id", "seed", "client id")
		slotList := fs.String("slots", "", "server addresses, comma-separated")
		n := fs.Int("n", 20, "volumes to create")
		if err := fs.Parse(args); err != nil {
			return err
		}
		conn, err := Connect(ctx, *pind, *slotList, log)
		if err != nil {
			return err
		}
		defer conn.Close()
		c := &Client{ID: *id, Pins: conn.Pins, Tally: conn.Tally}
		r := rand.New(rand.NewPCG(3, 4))
		vols := map[string]int64{}
		for i := range *n {
			cc, release, err := conn.Slots.Acquire(r)
			if err != nil {
				return err
			}
			gb := 1 + r.Int64N(100)
			if vid, ok := create(c, cc, SeedName(*id, i), gb); ok {
				vols[vid] = gb * 1024
			}
			release()
		}
		NewReporter(os.Stdout).Emit(Report{Kind: KindSeeded, Role: "client", ID: *id, Build: build,
			Counts: conn.Tally.Counts(), Errors: conn.Tally.Errors(), Volumes: vols})
		return nil
	}}
}

// SeedName is the name of the i-th volume of seed run id.
func SeedName(id string, i int) string { return fmt.Sprintf("%s-%d", id, i) }

// ReadbackCommand is the "readback" subcommand: it reads every volume of
// -volumes (a JSON file of size in MiB by id) through -rounds random server slots and reports the counts
// ("readback"): a wrong size counts as lost meaning.
func ReadbackCommand(build string, read ReadFunc) Command {
	return Command{Name: "readback", Run: func(ctx context.Context, args []string, log *slog.Logger) error {
		fs := flag.NewFlagSet("readback", flag.ContinueOnError)
		pind := fs.String("pind", "127.0.0.1:7070", "pind endpoints, comma-separated")
		id := fs.String("id", "readback", "client id")
		slotList := fs.String("slots", "", "server addresses, comma-separated")
		file := fs.String("volumes", "", "JSON file: size in MiB by volume id")
		rounds := fs.Int("rounds", 3, "reads of each volume, each through a random slot")
		if err := fs.Parse(args); err != nil {
			return err
		}
		var vols map[string]int64
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &vols); err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		conn, err := Connect(ctx, *pind, *slotList, log)
		if err != nil {
			return err
		}
		defer conn.Close()
		c := &Client{ID: *id, Pins: conn.Pins, Tally: conn.Tally}
		r := rand.New(rand.NewPCG(5, 6))
		for range *rounds {
			for vid, mib := range vols {
				cc, release, err := conn.Slots.Acquire(r)
				if err != nil {
					return err
				}
				read(c, cc, vid, mib)
				release()
			}
		}
		NewReporter(os.Stdout).Emit(Report{Kind: KindReadback, Role: "client", ID: *id, Build: build,
			Counts: conn.Tally.Counts(), Errors: conn.Tally.Errors()})
		return nil
	}}
}
