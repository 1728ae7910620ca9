package compat_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/compat"
)

// libFile is a dependency of the API: a file with one message.
func libFile(name, msg string) *descriptorpb.FileDescriptorProto {
	return &descriptorpb.FileDescriptorProto{
		Name:        proto.String(name),
		Package:     proto.String("lib.v1"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String(msg)}},
	}
}

// markBufImport sets what `buf build` writes on an imported file:
// ImageFileExtension{is_import: true} in field 8042.
func markBufImport(f *descriptorpb.FileDescriptorProto) {
	ext := protowire.AppendTag(nil, 1, protowire.VarintType)
	ext = protowire.AppendVarint(ext, 1)
	raw := protowire.AppendTag(nil, 8042, protowire.BytesType)
	raw = protowire.AppendBytes(raw, ext)
	f.ProtoReflect().SetUnknown(raw)
}

func TestCheckIgnoresImports(t *testing.T) {
	t.Parallel()
	cur := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{libFile("lib/v1/b.proto", "B")}}

	// The previous release imported a library file the current one no
	// longer needs: its types vanish, which is no finding.
	imported := libFile("lib/v1/a.proto", "A")
	markBufImport(imported)
	prev := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{imported, libFile("lib/v1/b.proto", "B")}}
	roundTripped, err := proto.Marshal(prev)
	if err != nil {
		t.Fatal(err)
	}
	if prev, err = compat.ParseImage(roundTripped); err != nil {
		t.Fatal(err)
	}
	findings, err := compat.Check(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 0 {
		t.Errorf("Check with a dropped import = %v, want nothing", findings)
	}

	// The same file, not an import, is the author's: removing A is a finding.
	prev = &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{libFile("lib/v1/a.proto", "A"), libFile("lib/v1/b.proto", "B")}}
	findings, err = compat.Check(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Rule != compat.RuleRemoved || findings[0].Element != "lib.v1.A" || !findings[0].Previous {
		t.Errorf("Check with a removed message = %v, want one %s for lib.v1.A", findings, compat.RuleRemoved)
	}
}
