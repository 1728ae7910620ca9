// Command buf-plugin-rollpin is a buf check plugin that runs rollpin's
// compatibility rules (package compat) inside `buf lint` and
// `buf breaking`.
//
// Lint rules check the annotations of one module with the engine's own
// rules (backport.CheckAnnotations): versions parse, no since is above its
// package's api version or sits in a package without one, the files of a
// package agree on its api version, on_downgrade, default and downgrade_to
// only with a since, defaults parse, downgrade_to names an older value.
// Breaking rules compare with the previous release (`buf breaking
// --against`): added elements carry a since above the previous version and
// in the current major, the api version rises, never goes back and is never
// dropped, since, defaults, numbers, names, JSON names, oneofs, field types
// and method types do not change, and an element is removed only after a
// release in which it was deprecated, its number then reserved.
//
// Pair it with buf's WIRE_JSON breaking category (not FILE, which refuses
// rollpin's own workflow of removing a deprecated, reserved field and
// moving a message between files of a package).
//
// # Usage
//
// Install the binary on PATH (buf finds a local plugin by its name):
//
//	go install github.com/rollpin/rollpin/cmd/buf-plugin-rollpin@latest
//
// and declare it in buf.yaml; the category ROLLPIN selects every rule:
//
//	version: v2
//	lint:
//	  use: [STANDARD, ROLLPIN]
//	breaking:
//	  use: [WIRE_JSON, ROLLPIN]
//	plugins:
//	  - plugin: buf-plugin-rollpin
//
// Then `buf lint` and `buf breaking --against .git#branch=main` report rule
// IDs such as ROLLPIN_SINCE_PRESENT with the element and how to fix it.
// Individual rules can be listed in use/except like buf's own rules.
package main
