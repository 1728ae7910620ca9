package pinclient

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// Client is closed by its test, and Close must end all it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
