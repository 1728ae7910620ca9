package main

import "github.com/rollpin/rollpin/examples/internal/fleet"

// build is the API version this binary speaks.
const build = "1.3"

func main() {
	fleet.Main("volume", fleet.ServerCommand(build, register), fleet.ClientCommand(build, runSequence),
		fleet.SeedCommand(build, seed))
}
