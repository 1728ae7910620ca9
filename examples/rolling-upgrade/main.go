package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var o Options
	flag.IntVar(&o.Servers, "servers", 3, "server instances")
	flag.IntVar(&o.V1Clients, "clients-1.3", 2, "load clients at API 1.3")
	flag.IntVar(&o.V2Clients, "clients-1.4", 2, "load clients at API 1.4")
	flag.IntVar(&o.Workers, "workers", 2, "concurrent call sequences per client")
	flag.DurationVar(&o.Settle, "settle", 2*time.Second, "pind's settle window before an automatic raise")
	flag.DurationVar(&o.Soak, "soak", 2*time.Second, "traffic time between two steps")
	flag.StringVar(&o.Dir, "dir", "", "work directory (default: a temporary one)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the work directory (binaries, etcd data, process logs)")
	flag.BoolVar(&o.NoPostgres, "no-postgres", false, "run as if PostgreSQL were not installed (no volumes table, no migrations)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rolling-upgrade:", err)
		os.Exit(1)
	}
	if !sum.OK() {
		os.Exit(1)
	}
}
