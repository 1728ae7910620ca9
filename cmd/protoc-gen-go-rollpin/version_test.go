package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The built plugin prints its build for --version instead of serving.
func TestVersionFlag(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "protoc-gen-go-rollpin")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("protoc-gen-go-rollpin --version: %v", err)
	}
	if s := string(out); !strings.HasPrefix(s, "protoc-gen-go-rollpin ") || !strings.Contains(s, "(revision ") || strings.Count(s, "\n") != 1 {
		t.Errorf("protoc-gen-go-rollpin --version = %q, want one line \"protoc-gen-go-rollpin VERSION (revision ...) GOVERSION\"", s)
	}
}
