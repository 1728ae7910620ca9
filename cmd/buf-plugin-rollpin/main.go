package main

import (
	"os"

	"buf.build/go/bufplugin/check"

	"github.com/rollpin/rollpin/internal/buildinfo"
)

// main serves the plugin over stdin/stdout as buf expects.
func main() {
	if buildinfo.PrintVersion("buf-plugin-rollpin", os.Args[1:], os.Stdout) {
		return
	}
	check.Main(spec())
}
