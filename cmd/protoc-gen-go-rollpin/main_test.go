package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/rollpin/rollpin/backport/backporttest/plainpb"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
	"github.com/rollpin/rollpin/backport/backporttest/typespb"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// request builds the CodeGeneratorRequest buf sends for files (and their
// imports).
func request(param string, files ...protoreflect.FileDescriptor) *pluginpb.CodeGeneratorRequest {
	req := &pluginpb.CodeGeneratorRequest{Parameter: proto.String(param)}
	seen := map[string]bool{}
	var add func(protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		for i := 0; i < f.Imports().Len(); i++ {
			add(f.Imports().Get(i).FileDescriptor)
		}
		req.ProtoFile = append(req.ProtoFile, protodesc.ToFileDescriptorProto(f))
	}
	for _, f := range files {
		add(f)
		req.FileToGenerate = append(req.FileToGenerate, f.Path())
	}
	return req
}

func generate(t *testing.T, req *pluginpb.CodeGeneratorRequest) *pluginpb.CodeGeneratorResponse {
	t.Helper()
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := run(gen); err != nil {
		gen.Error(err)
	}
	return gen.Response()
}

// TestGeneratesCommittedCode: the plugin reproduces the committed code of
// the backport test API (CI's buf generate checks the same through buf).
func TestGeneratesCommittedCode(t *testing.T) {
	resp := generate(t, request("module=github.com/rollpin/rollpin/backport/backporttest",
		typespb.File_rollpin_testpb_types_v1_types_proto,
		svcpb.File_rollpin_testpb_svc_v1_volume_proto,
		svcpb.File_rollpin_testpb_svc_v1_extra_proto,
		plainpb.File_rollpin_testpb_plain_v1_plain_proto))
	if resp.Error != nil {
		t.Fatalf("plugin error: %s", resp.GetError())
	}
	if len(resp.File) != 4 {
		t.Errorf("generated %d files, want 4 (types, volume, extra, plain)", len(resp.File))
	}
	for _, f := range resp.File {
		want, err := os.ReadFile(filepath.Join("../../backport/backporttest", f.GetName()))
		if err != nil {
			t.Fatalf("%s: %v", f.GetName(), err)
		}
		if f.GetContent() != string(want) {
			t.Errorf("%s differs from the committed file: run buf generate in backport/backporttest", f.GetName())
		}
	}
}

// TestRefusesInvalidSchema: annotations the engine refuses fail
// generation, naming the element.
func TestRefusesInvalidSchema(t *testing.T) {
	fo := &descriptorpb.FileOptions{GoPackage: proto.String("example.com/bad;bad")}
	proto.SetExtension(fo, rollpinv1.E_Api, &rollpinv1.ApiOptions{Version: "1.2"})
	fieldOpts := &descriptorpb.FieldOptions{}
	proto.SetExtension(fieldOpts, rollpinv1.E_Field, &rollpinv1.FieldOptions{Since: "1.9"})
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("bad/bad.proto"),
		Package:    proto.String("bad.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"rollpin/v1/options.proto"},
		Options:    fo,
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("M"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("x"), Number: proto.Int32(1), JsonName: proto.String("x"),
				Type:    descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
				Label:   descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				Options: fieldOpts,
			}},
		}},
	}
	req := request("", rollpinv1.File_rollpin_v1_options_proto)
	req.FileToGenerate = []string{"bad/bad.proto"}
	req.ProtoFile = append(req.ProtoFile, fdp)
	resp := generate(t, req)
	if !strings.Contains(resp.GetError(), "bad.v1.M.x") || !strings.Contains(resp.GetError(), "above the package version") {
		t.Errorf("plugin error = %q, want one naming bad.v1.M.x and its since", resp.GetError())
	}
}
