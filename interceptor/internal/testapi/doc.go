// Package testapi holds the two versions of the interceptor package's test
// API: the current one (1.2), generated to Go under current/, and the
// previous one (1.1), committed as the descriptor set old.binpb and served
// with dynamicpb messages so that an old peer in tests really runs the old
// schema.
//
// # Regenerating
//
// The current version: `go tool -modfile=<repo>/tools/go.mod buf generate` in
// current/. The old descriptor set: `go generate` in this directory.
package testapi
