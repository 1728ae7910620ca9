package compattest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// parseDefault parses the text of a field's default option into the value
// the receiver fills: scalar text for scalars ("true", "42", "1.5", any text
// for string and bytes), a value name for enums, protobuf text format for
// messages. Defaults apply only to singular fields.
func parseDefault(fd protoreflect.FieldDescriptor, text string) (protoreflect.Value, error) {
	if fd.IsList() || fd.IsMap() {
		return protoreflect.Value{}, errors.New("defaults apply only to singular fields")
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		switch text {
		case "true":
			return protoreflect.ValueOfBool(true), nil
		case "false":
			return protoreflect.ValueOfBool(false), nil
		}
		return protoreflect.Value{}, fmt.Errorf("%q is not true or false", text)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(text, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not a 32-bit integer", text)
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not a 64-bit integer", text)
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(text, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not an unsigned 32-bit integer", text)
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not an unsigned 64-bit integer", text)
		}
		return protoreflect.ValueOfUint64(n), nil
	case protoreflect.FloatKind:
		f, err := strconv.ParseFloat(text, 32)
		if err != nil && !math.IsInf(f, 0) {
			return protoreflect.Value{}, fmt.Errorf("%q is not a number", text)
		}
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q does not fit in a float", text)
		}
		return protoreflect.ValueOfFloat32(float32(f)), nil
	case protoreflect.DoubleKind:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not a number", text)
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.StringKind:
		if !utf8.ValidString(text) {
			return protoreflect.Value{}, fmt.Errorf("%q is not valid UTF-8", text)
		}
		return protoreflect.ValueOfString(text), nil
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(text)), nil
	case protoreflect.EnumKind:
		v := fd.Enum().Values().ByName(protoreflect.Name(text))
		if v == nil {
			return protoreflect.Value{}, fmt.Errorf("%q names no value of enum %s", text, fd.Enum().FullName())
		}
		return protoreflect.ValueOfEnum(v.Number()), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		m := dynamicpb.NewMessage(fd.Message())
		if err := prototext.Unmarshal([]byte(text), m); err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not text format for %s: %v", text, fd.Message().FullName(), err)
		}
		return protoreflect.ValueOfMessage(m), nil
	}
	return protoreflect.Value{}, fmt.Errorf("field kind %v takes no default", fd.Kind())
}
