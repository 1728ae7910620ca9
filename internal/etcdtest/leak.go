package etcdtest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakGrace is how long VerifyTestMain lets goroutines wind down. An
// embedded etcd closes its peer connections asynchronously: their goroutines
// end within a second or two after Close returns.
const leakGrace = 10 * time.Second

// VerifyTestMain runs the tests of m and then fails the run if goroutines
// are left over (go.uber.org/goleak), giving the goroutines of stopped etcd
// members some seconds to end first. Use it as a package's TestMain:
//
//	func TestMain(m *testing.M) { etcdtest.VerifyTestMain(m) }
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(leakGrace)
		for {
			err := goleak.Find(opts...)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests: %v\n", err)
				code = 1
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	os.Exit(code)
}
