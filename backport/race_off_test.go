//go:build !race

package backport

const raceEnabled = false
