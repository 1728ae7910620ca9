package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// run executes one pindctl command line and returns its exit code. Errors
// are printed to s.Err, prefixed with "pindctl: ".
func run(ctx context.Context, args []string, s streams) int {
	a := newApp(s)
	defer a.close()
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(a.Err, "pindctl: %v\n", err)
	}
	return exitCode(err)
}
