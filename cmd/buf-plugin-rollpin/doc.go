// Command buf-plugin-rollpin is a buf check plugin that runs rollpin's
// compatibility rules (package compat) inside `buf lint` and
// `buf breaking`.
//
// Lint rules check the annotations of one module: versions parse, no since
// is above its package's api version or sits in a package without one, the
// files of a package agree on its api version, defaults parse, downgrade_to
// names an older value. Breaking rules compare with the previous release
// (`buf breaking --against`): added elements carry a since above the
// previous version, the api version rises and never goes back, since,
// numbers, field types and method types do not change, and an element is
// removed only after a release in which it was deprecated, its number then
// reserved.
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
//	  use: [FILE, ROLLPIN]
//	plugins:
//	  - plugin: buf-plugin-rollpin
//
// Then `buf lint` and `buf breaking --against .git#branch=main` report rule
// IDs such as ROLLPIN_SINCE_PRESENT with the element and how to fix it.
// Individual rules can be listed in use/except like buf's own rules.
package main
