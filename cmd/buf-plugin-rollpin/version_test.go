package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The built plugin prints its build for --version instead of serving.
func TestVersionFlag(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "buf-plugin-rollpin")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("buf-plugin-rollpin --version: %v", err)
	}
	if s := string(out); !strings.HasPrefix(s, "buf-plugin-rollpin ") || !strings.Contains(s, "(revision ") || strings.Count(s, "\n") != 1 {
		t.Errorf("buf-plugin-rollpin --version = %q, want one line \"buf-plugin-rollpin VERSION (revision ...) GOVERSION\"", s)
	}
}
