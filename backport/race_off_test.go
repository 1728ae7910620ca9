//go:build !race

package backport_test

const raceEnabled = false
