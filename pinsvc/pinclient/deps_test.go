package pinclient

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: what a service links by importing pinclient is grpc,
// protobuf, rollpin's generated API and backport — never pind's server side
// (pinsvc, etcd, zap), the Prometheus client or package testing.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	banned := func(dep string) bool {
		return strings.HasPrefix(dep, "go.etcd.io/") ||
			strings.HasPrefix(dep, "go.uber.org/zap") ||
			strings.HasPrefix(dep, "github.com/prometheus/") ||
			dep == "github.com/rollpin/rollpin/pinsvc" ||
			dep == "testing"
	}
	for _, dep := range strings.Fields(string(out)) {
		if banned(dep) {
			t.Errorf("go list -deps ./pinsvc/pinclient lists %s", dep)
		}
	}
}
