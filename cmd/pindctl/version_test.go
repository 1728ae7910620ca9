package main

import (
	"strings"
	"testing"
)

func TestVersionFlag(t *testing.T) {
	r := pindctl(t, nil, "--version")
	if r.code != exitOK || !strings.HasPrefix(r.out, "pindctl ") || !strings.Contains(r.out, "go1.") {
		t.Errorf("pindctl --version: exit %d, %q; want the version and the Go version", r.code, r.out)
	}
}
