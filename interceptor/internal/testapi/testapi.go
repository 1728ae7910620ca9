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

//go:generate go tool -modfile=../../../tools/go.mod buf build old --path old/rollpin/itest -o old.binpb

import (
	_ "embed"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

//go:embed old.binpb
var oldBinpb []byte

// OldFiles returns a fresh registry holding the previous version of the test
// API (and its imports), built from the committed descriptor set.
func OldFiles() (*protoregistry.Files, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(oldBinpb, &set); err != nil {
		return nil, fmt.Errorf("testapi: decode old.binpb: %w", err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("testapi: build old files: %w", err)
	}
	return files, nil
}
