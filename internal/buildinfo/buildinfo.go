package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Module is rollpin's module path.
const Module = "github.com/rollpin/rollpin"

// Info describes a binary's build.
type Info struct {
	// Version is the version of the rollpin module linked into the binary
	// ("v0.3.0", "(devel)" for a build from a work tree).
	Version string
	// Revision is the VCS revision the binary was built from, with
	// "-dirty" when the work tree had changes; empty when unknown.
	Revision string
	// GoVersion is the Go toolchain version ("go1.26.8").
	GoVersion string
}

// Read returns the build information of the running binary. It never fails:
// unknown parts read "unknown" (version) or "" (revision).
func Read() Info {
	info := Info{Version: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	return fromBuildInfo(bi, info)
}

func fromBuildInfo(bi *debug.BuildInfo, info Info) Info {
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	if bi.Main.Path == Module {
		info.Version = bi.Main.Version
	} else {
		for _, d := range bi.Deps {
			if d.Path == Module {
				info.Version = d.Version
				if d.Replace != nil && d.Replace.Version != "" {
					info.Version = d.Replace.Version
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = "unknown"
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	info.Revision = rev
	return info
}

// String renders the information for --version: "v0.3.0 (rev 1a2b3c4d5e6f, go1.26.8)".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	b.WriteString(" (")
	if i.Revision != "" {
		b.WriteString("rev " + i.Revision + ", ")
	}
	b.WriteString(i.GoVersion + ")")
	return b.String()
}
