// Package volumepb is the generated code of the example volume service at
// API 1.3 (proto package acme.volume.v1, proto/acme/volume/v1/volume.proto
// next to this directory). It is linked only into the 1.3 binary: the 1.4
// revision of the same proto package (examples/volume/v2/volumepb) cannot
// share a binary with it.
//
// # Regenerating
//
// From examples/volume/v1:
//
//	go tool -modfile=../../../tools/go.mod buf generate
//	go tool -modfile=../../../tools/go.mod buf build proto -o volume.binpb
//
// volume.binpb is the descriptor set of this revision (with its imports),
// for tools that compare API versions without linking them.
package volumepb
