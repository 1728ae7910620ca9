package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"nothing", nil, "unknown (revision unknown) unknown"},
		{"git checkout", &debug.BuildInfo{
			GoVersion: "go1.26.0",
			Main:      debug.Module{Path: "github.com/rollpin/rollpin", Version: "v0.0.0-20261129220000-1a2b3c4d5e6f+dirty"},
			Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"},
				{Key: "vcs.time", Value: "2026-11-29T22:00:00Z"},
				{Key: "vcs.modified", Value: "true"},
			},
		}, "v0.0.0-20261129220000-1a2b3c4d5e6f+dirty (revision 1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d, 2026-11-29T22:00:00Z, modified) go1.26.0"},
		{"go install", &debug.BuildInfo{
			GoVersion: "go1.26.0",
			Main:      debug.Module{Path: "github.com/rollpin/rollpin", Version: "v0.3.0"},
		}, "v0.3.0 (revision unknown) go1.26.0"},
	} {
		if got := fromBuildInfo(tc.bi).String(); got != tc.want {
			t.Errorf("%s: fromBuildInfo(...).String() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLineNamesProgramAndToolchain(t *testing.T) {
	got := Line("pind")
	if !strings.HasPrefix(got, "pind ") || !strings.Contains(got, "(revision ") {
		t.Errorf("Line(pind) = %q, want \"pind VERSION (revision ...) GOVERSION\"", got)
	}
	if bi, ok := debug.ReadBuildInfo(); ok && !strings.HasSuffix(got, " "+bi.GoVersion) {
		t.Errorf("Line(pind) = %q, want it to end with %s", got, bi.GoVersion)
	}
}

func TestVersionRequested(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{nil, false},
		{[]string{"--version", "x"}, false},
		{[]string{"--versions"}, false},
	} {
		if got := VersionRequested(tc.args); got != tc.want {
			t.Errorf("VersionRequested(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestPrintVersion(t *testing.T) {
	var b strings.Builder
	if PrintVersion("protoc-gen-go-rollpin", []string{"--paths=source_relative"}, &b) || b.Len() != 0 {
		t.Errorf("PrintVersion(other args) printed %q, want nothing", b.String())
	}
	if !PrintVersion("protoc-gen-go-rollpin", []string{"--version"}, &b) || b.String() != Line("protoc-gen-go-rollpin")+"\n" {
		t.Errorf("PrintVersion(--version) printed %q, want %q", b.String(), Line("protoc-gen-go-rollpin")+"\n")
	}
}
