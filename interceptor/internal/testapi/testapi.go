// This file loads the previous version of the test API.

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
