package main

import (
	"testing"

	"github.com/rollpin/rollpin/internal/buildinfo"
)

func TestVersionFlag(t *testing.T) {
	r := pindctl(t, nil, "--version")
	if r.code != exitOK || r.out != buildinfo.Line("pindctl")+"\n" {
		t.Errorf("pindctl --version = exit %d, %q; want 0, %q", r.code, r.out, buildinfo.Line("pindctl")+"\n")
	}
}
