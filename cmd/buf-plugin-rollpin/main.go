package main

import (
	"buf.build/go/bufplugin/check"
)

// main serves the plugin over stdin/stdout as buf expects.
func main() {
	check.Main(spec())
}
