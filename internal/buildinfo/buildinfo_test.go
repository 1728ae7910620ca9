package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want Info
	}{
		{
			name: "main module with a dirty checkout",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: Module, Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
			}},
			want: Info{Version: "(devel)", Revision: "0123456789ab-dirty", GoVersion: "go1.26.8"},
		},
		{
			name: "a dependency of another main module",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.com/svc"}, Deps: []*debug.Module{
				{Path: "example.com/other", Version: "v9.9.9"}, {Path: Module, Version: "v0.3.0"},
			}},
			want: Info{Version: "v0.3.0", GoVersion: "go1.26.8"},
		},
		{
			name: "not linked",
			bi:   &debug.BuildInfo{Main: debug.Module{Path: "example.com/svc"}},
			want: Info{Version: "unknown", GoVersion: "goX"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(tc.bi, Info{Version: "unknown", GoVersion: "goX"}); got != tc.want {
				t.Errorf("fromBuildInfo = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadAndString(t *testing.T) {
	i := Read()
	if i.GoVersion == "" || i.Version == "" {
		t.Errorf("Read() = %+v, want a Go version and a module version", i)
	}
	if s := (Info{Version: "v1.0.0", Revision: "abc", GoVersion: "go1.26.8"}).String(); s != "v1.0.0 (rev abc, go1.26.8)" {
		t.Errorf("String() = %q", s)
	}
	if s := (Info{Version: "v1.0.0", GoVersion: "go1.26.8"}).String(); strings.Contains(s, "rev") {
		t.Errorf("String() without a revision = %q", s)
	}
}
