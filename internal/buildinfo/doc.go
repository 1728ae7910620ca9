// Package buildinfo reads what a rollpin binary was built from — the module
// version of github.com/rollpin/rollpin and the VCS revision — from
// runtime/debug.ReadBuildInfo, for --version flags and the
// rollpin_build_info metric.
//
//	fmt.Println(buildinfo.Read().String()) // "pind v0.3.0 (rev 1a2b3c4, go1.26.8)"
package buildinfo
