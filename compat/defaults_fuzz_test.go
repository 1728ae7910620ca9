package compat

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// FuzzParseDefault parses arbitrary default text for fields of many kinds:
// it never panics, and a scalar it accepts prints back to a value that
// parses to the same value.
func FuzzParseDefault(f *testing.F) {
	uo := (&descriptorpb.UninterpretedOption{}).ProtoReflect().Descriptor().Fields()
	fo := (&descriptorpb.FieldOptions{}).ProtoReflect().Descriptor().Fields()
	fdp := (&descriptorpb.FieldDescriptorProto{}).ProtoReflect().Descriptor().Fields()
	fields := []protoreflect.FieldDescriptor{
		uo.ByName("positive_int_value"), // uint64
		uo.ByName("negative_int_value"), // int64
		uo.ByName("double_value"),       // double
		uo.ByName("string_value"),       // bytes
		uo.ByName("identifier_value"),   // string
		uo.ByName("name"),               // repeated message
		fo.ByName("deprecated"),         // bool
		fo.ByName("ctype"),              // enum
		fdp.ByName("number"),            // int32
		fdp.ByName("options"),           // message
	}
	for _, s := range []string{"", "true", "false", "42", "-7", "1.5", "1e400", "NaN", "inf", "CORD", "STRING_PIECE", "deprecated: true", "x: {", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, fd := range fields {
			v, err := parseDefault(fd, text)
			if err != nil || fd.Message() != nil {
				continue
			}
			back := v.String()
			switch fd.Kind() {
			case protoreflect.EnumKind:
				back = string(fd.Enum().Values().ByNumber(v.Enum()).Name())
			case protoreflect.BytesKind:
				back = string(v.Bytes())
			}
			if fd.Kind() == protoreflect.DoubleKind {
				continue // %v of a float is not always the shortest text
			}
			v2, err := parseDefault(fd, back)
			if err != nil || !v2.Equal(v) {
				t.Errorf("%s: %q parsed to %v, which reparses as %v (%v)", fd.FullName(), text, v, v2, err)
			}
		}
	})
}
