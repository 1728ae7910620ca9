//go:build race

package backport_test

// raceEnabled shortens the property tests under the race detector, which
// slows the engine's reflection tenfold.
const raceEnabled = true
