package main

import (
	"context"
	"fmt"
	"os"
)

// The manifest a binary built from a buf image would announce; the image
// here is the 1.4 API of the example volume service.
func Example_manifest() {
	run(context.Background(), []string{"manifest", "--descriptor-set", "testdata/volume-1.4.binpb"},
		streams{Out: os.Stdout, Err: os.Stdout})
	// Output:
	// TRACK           VERSION
	// acme.volume.v1  1.4
}

// A misspelt subcommand is a usage error (exit code 2).
func Example_usage() {
	code := run(context.Background(), []string{"stauts"}, streams{Out: os.Stdout, Err: os.Stdout})
	fmt.Println("exit code", code)
	// Output:
	// pindctl: unknown command "stauts" for "pindctl"; did you mean status?
	// exit code 2
}
