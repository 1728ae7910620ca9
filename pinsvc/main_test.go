package pinsvc

import (
	"testing"

	"github.com/rollpin/rollpin/internal/etcdtest"
)

// TestMain fails the run when a test leaves goroutines behind.
func TestMain(m *testing.M) { etcdtest.VerifyTestMain(m) }
