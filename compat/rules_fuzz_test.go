package compat_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/compat"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// FuzzRulesAgree is the structure-aware fuzzer of the one rule set: the
// fuzzer writes the annotation texts (api version, since, default,
// downgrade_to, on_downgrade) and the annotated field's kind into a small
// schema, and compat.Lint must report exactly what the engine refuses, with
// messages free of formatting garbage. Each input gets its own engine, so
// plans do not pile up in a cache over a long run.
func FuzzRulesAgree(f *testing.F) {
	f.Add("1.2", "1.1", "true", "Z", uint8(0), int32(0))
	f.Add("1.2", "1.2", "INF", "", uint8(5), int32(1))
	f.Add("1.2", "", "", "", uint8(1), int32(2))
	f.Add("x", "1.3", "1e400", "A", uint8(4), int32(7))
	f.Add("-", "1.0", "A", "Q", uint8(8), int32(3))
	f.Add("2.0", "2.0", "a: 1", "Z", uint8(9), int32(0))
	f.Fuzz(func(t *testing.T, api, since, dflt, to string, kind uint8, action int32) {
		files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
			fuzzSchema(api, since, dflt, to, kind, action),
		}})
		if err != nil {
			t.Fatalf("schema does not build: %v", err)
		}
		lint := map[string]bool{}
		for _, f := range compat.Lint(files) {
			lint[fmt.Sprintf("%s %s %s", f.File, f.Element, f.Rule)] = true
			if strings.Contains(f.Message+f.Fix, "%!") {
				t.Errorf("garbled finding: %v", f)
			}
		}
		engine := map[string]bool{}
		add := func(err error) {
			if err != nil && strings.Contains(err.Error(), "%!") {
				t.Errorf("garbled engine error: %v", err)
			}
			for _, v := range violations(err) {
				engine[fmt.Sprintf("%s %s %s", v.File, v.Element, v.Rule)] = true
			}
		}
		d, err := files.FindDescriptorByName("fz.v1.M")
		if err != nil {
			t.Fatal(err)
		}
		eng := backport.New(backport.WithFiles(files))
		add(eng.CheckMessage(d.(protoreflect.MessageDescriptor)))
		d, err = files.FindDescriptorByName("fz.v1.S.Do")
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, err = eng.MethodSince(d.(protoreflect.MethodDescriptor))
		add(err)
		_, err = backport.ManifestOfFiles(files)
		add(err)
		if diff := cmp.Diff(sortedSet(lint), sortedSet(engine)); diff != "" {
			t.Errorf("lint and engine disagree (-lint +engine):\n%s", diff)
		}
	})
}

// fuzzSchema is one file of package fz.v1: an enum whose value A carries
// since and downgrade_to, a message whose field x (of a kind chosen by
// kind) carries since, default and on_downgrade, and a method with since.
// api "-" leaves the package unversioned.
func fuzzSchema(api, since, dflt, to string, kind uint8, action int32) *descriptorpb.FileDescriptorProto {
	kinds := []descriptorpb.FieldDescriptorProto_Type{
		descriptorpb.FieldDescriptorProto_TYPE_BOOL, descriptorpb.FieldDescriptorProto_TYPE_INT32,
		descriptorpb.FieldDescriptorProto_TYPE_UINT64, descriptorpb.FieldDescriptorProto_TYPE_SINT64,
		descriptorpb.FieldDescriptorProto_TYPE_FLOAT, descriptorpb.FieldDescriptorProto_TYPE_DOUBLE,
		descriptorpb.FieldDescriptorProto_TYPE_STRING, descriptorpb.FieldDescriptorProto_TYPE_BYTES,
		descriptorpb.FieldDescriptorProto_TYPE_ENUM, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE,
	}
	k := kinds[int(kind)%len(kinds)]
	x := &descriptorpb.FieldDescriptorProto{
		Name: proto.String("x"), Number: proto.Int32(1), JsonName: proto.String("x"),
		Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: k.Enum(),
		Options: &descriptorpb.FieldOptions{},
	}
	if kind >= 128 {
		x.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	}
	switch k {
	case descriptorpb.FieldDescriptorProto_TYPE_ENUM:
		x.TypeName = proto.String(".fz.v1.E")
	case descriptorpb.FieldDescriptorProto_TYPE_MESSAGE:
		x.TypeName = proto.String(".fz.v1.In")
	}
	proto.SetExtension(x.Options, rollpinv1.E_Field, &rollpinv1.FieldOptions{Since: since, Default: dflt, OnDowngrade: rollpinv1.OnDowngrade(action)})
	a := &descriptorpb.EnumValueDescriptorProto{Name: proto.String("A"), Number: proto.Int32(1), Options: &descriptorpb.EnumValueOptions{}}
	proto.SetExtension(a.Options, rollpinv1.E_EnumValue, &rollpinv1.EnumValueOptions{Since: since, DowngradeTo: to})
	mo := &descriptorpb.MethodOptions{}
	proto.SetExtension(mo, rollpinv1.E_Method, &rollpinv1.MethodOptions{Since: since})
	fd := &descriptorpb.FileDescriptorProto{
		Name: proto.String("fz.proto"), Package: proto.String("fz.v1"), Syntax: proto.String("proto3"),
		EnumType: []*descriptorpb.EnumDescriptorProto{{Name: proto.String("E"), Value: []*descriptorpb.EnumValueDescriptorProto{
			{Name: proto.String("Z"), Number: proto.Int32(0)}, a,
		}}},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("In"), Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("a"), Number: proto.Int32(1), JsonName: proto.String("a"),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(),
			}}},
			{Name: proto.String("M"), Field: []*descriptorpb.FieldDescriptorProto{x, {
				Name: proto.String("e"), Number: proto.Int32(2), JsonName: proto.String("e"),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_ENUM.Enum(),
				TypeName: proto.String(".fz.v1.E"),
			}}},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{Name: proto.String("S"), Method: []*descriptorpb.MethodDescriptorProto{{
			Name: proto.String("Do"), InputType: proto.String(".fz.v1.M"), OutputType: proto.String(".fz.v1.M"), Options: mo,
		}}}},
	}
	if api != "-" {
		fd.Options = &descriptorpb.FileOptions{}
		proto.SetExtension(fd.Options, rollpinv1.E_Api, &rollpinv1.ApiOptions{Version: api})
	}
	return fd
}
