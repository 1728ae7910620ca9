// Package buildinfo reports what a rollpin binary knows about its own build:
// the module version and the VCS revision the Go toolchain stamped into it
// (runtime/debug.ReadBuildInfo). Every command prints it for --version:
//
//	if buildinfo.VersionRequested(os.Args[1:]) {
//		fmt.Println(buildinfo.Line("pind"))
//		return
//	}
//
// # Fields
//
// A binary built with `go build` inside a git checkout carries the revision,
// its commit time and whether the tree was modified; one built by `go install
// module@version` carries the module version instead. Missing fields read
// "unknown".
package buildinfo
