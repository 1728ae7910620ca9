package buildinfo

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// unknown stands for a field the build did not record.
const unknown = "unknown"

// Info is the build of the running binary.
type Info struct {
	// Module is the path of the main module ("github.com/rollpin/rollpin").
	Module string
	// Version is the main module's version ("v0.3.0", a pseudo-version, or
	// "(devel)").
	Version string
	// Revision is the VCS revision the binary was built from.
	Revision string
	// Time is the commit time of Revision (RFC 3339).
	Time string
	// Modified reports whether the working tree had uncommitted changes.
	Modified bool
	// GoVersion is the toolchain that built the binary ("go1.26.0").
	GoVersion string
}

// Read returns the build of the running binary. Fields the binary does not
// carry are "unknown".
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fromBuildInfo(nil)
	}
	return fromBuildInfo(bi)
}

// fromBuildInfo extracts an Info from bi (nil: nothing known).
func fromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Module: unknown, Version: unknown, Revision: unknown, Time: unknown, GoVersion: unknown}
	if bi == nil {
		return i
	}
	if bi.Main.Path != "" {
		i.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		i.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		i.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String renders i on one line: "v0.3.0 (revision 1a2b3c4d5e6f, 2026-11-29T22:00:00Z, modified) go1.26.0".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	b.WriteString(" (revision ")
	b.WriteString(i.Revision)
	if i.Time != unknown {
		b.WriteString(", " + i.Time)
	}
	if i.Modified {
		b.WriteString(", modified")
	}
	b.WriteString(") ")
	b.WriteString(i.GoVersion)
	return b.String()
}

// Line returns what `program --version` prints: the program's name, then
// the build of the running binary ("pind v0.3.0 (revision 1a2b3c, ...) go1.26.0").
func Line(program string) string {
	return program + " " + Read().String()
}

// VersionRequested reports whether args (without the program name) is
// exactly a request for the version: "--version" or "-version". Commands
// without a flag parser of their own (the protoc and buf plugins) check it
// before serving.
func VersionRequested(args []string) bool {
	return len(args) == 1 && (args[0] == "--version" || args[0] == "-version")
}

// PrintVersion writes Line(program) and a newline to w when args requests
// the version (see VersionRequested), and reports whether it did.
func PrintVersion(program string, args []string, w io.Writer) bool {
	if !VersionRequested(args) {
		return false
	}
	fmt.Fprintln(w, Line(program))
	return true
}
