package backport_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Descriptor fixtures built from descriptorpb in the test, so that invalid
// annotations never reach the global registry.

// optEncoding says how an option value reaches the descriptor.
type optEncoding int

const (
	encGenerated optEncoding = iota // a field holding the generated type
	encDynamic                      // a field holding a dynamicpb.Message
	encUnknown                      // raw bytes in the unknown fields
)

func (e optEncoding) String() string {
	return [...]string{"generated", "dynamic", "unknown"}[e]
}

// withOption returns a copy of opts carrying ext = val, encoded as enc.
func withOption[O proto.Message](t testing.TB, opts O, xt protoreflect.ExtensionType, val proto.Message, enc optEncoding) O {
	t.Helper()
	src := proto.Clone(opts)
	proto.SetExtension(src, xt, val)
	b, err := proto.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := opts.ProtoReflect().Type().New().Interface().(O)
	types := new(protoregistry.Types)
	switch enc {
	case encGenerated:
		if err := types.RegisterExtension(xt); err != nil {
			t.Fatal(err)
		}
	case encDynamic:
		if err := types.RegisterExtension(dynamicpb.NewExtensionType(xt.TypeDescriptor().Descriptor())); err != nil {
			t.Fatal(err)
		}
	}
	if err := (proto.UnmarshalOptions{Resolver: types}).Unmarshal(b, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func fileOpts(t testing.TB, version string, enc optEncoding) *descriptorpb.FileOptions {
	return withOption(t, &descriptorpb.FileOptions{}, rollpinv1.E_Api, &rollpinv1.ApiOptions{Version: version}, enc)
}

func fieldOpts(t testing.TB, o *rollpinv1.FieldOptions, enc optEncoding) *descriptorpb.FieldOptions {
	return withOption(t, &descriptorpb.FieldOptions{}, rollpinv1.E_Field, o, enc)
}

func enumValueOpts(t testing.TB, o *rollpinv1.EnumValueOptions, enc optEncoding) *descriptorpb.EnumValueOptions {
	return withOption(t, &descriptorpb.EnumValueOptions{}, rollpinv1.E_EnumValue, o, enc)
}

func methodOpts(t testing.TB, o *rollpinv1.MethodOptions, enc optEncoding) *descriptorpb.MethodOptions {
	return withOption(t, &descriptorpb.MethodOptions{}, rollpinv1.E_Method, o, enc)
}

func field(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, opts *descriptorpb.FieldOptions) *descriptorpb.FieldDescriptorProto {
	return &descriptorpb.FieldDescriptorProto{
		Name:     proto.String(name),
		Number:   proto.Int32(num),
		Type:     typ.Enum(),
		Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		JsonName: proto.String(name),
		Options:  opts,
	}
}

func msgField(name string, num int32, typeName string, opts *descriptorpb.FieldOptions) *descriptorpb.FieldDescriptorProto {
	f := field(name, num, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, opts)
	f.TypeName = proto.String(typeName)
	return f
}

func enumField(name string, num int32, typeName string, opts *descriptorpb.FieldOptions) *descriptorpb.FieldDescriptorProto {
	f := field(name, num, descriptorpb.FieldDescriptorProto_TYPE_ENUM, opts)
	f.TypeName = proto.String(typeName)
	return f
}

func file(name, pkg string, opts *descriptorpb.FileOptions, deps []string, msgs []*descriptorpb.DescriptorProto, enums ...*descriptorpb.EnumDescriptorProto) *descriptorpb.FileDescriptorProto {
	return &descriptorpb.FileDescriptorProto{
		Name:        proto.String(name),
		Package:     proto.String(pkg),
		Syntax:      proto.String("proto3"),
		Dependency:  deps,
		Options:     opts,
		MessageType: msgs,
		EnumType:    enums,
	}
}

func buildFiles(t testing.TB, fds ...*descriptorpb.FileDescriptorProto) *protoregistry.Files {
	t.Helper()
	files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: fds})
	if err != nil {
		t.Fatalf("protodesc.NewFiles: %v", err)
	}
	return files
}

func findMessage(t testing.TB, files *protoregistry.Files, name string) protoreflect.MessageDescriptor {
	t.Helper()
	d, err := files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	return d.(protoreflect.MessageDescriptor)
}

type (
	descriptorpbDescriptorProto = descriptorpb.DescriptorProto
	descriptorpbField           = descriptorpb.FieldDescriptorProto
)

func strPtr(s string) *string { return proto.String(s) }

func customSince(v string) *rollpinv1.FieldOptions {
	return &rollpinv1.FieldOptions{Since: v, OnDowngrade: rollpinv1.OnDowngrade_ON_DOWNGRADE_CUSTOM}
}

func sinceOnly(v string) *rollpinv1.FieldOptions { return &rollpinv1.FieldOptions{Since: v} }

func newDynamic(md protoreflect.MessageDescriptor) *dynamicpb.Message {
	return dynamicpb.NewMessage(md)
}
