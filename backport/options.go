package backport

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// FileAPIOptions returns the (rollpin.v1.api) option of a file. ok is false
// when the file does not carry the option or when its encoding is corrupt
// (TrackOf and CheckMessage report the latter as an error). The result must
// not be modified.
func FileAPIOptions(fd protoreflect.FileDescriptor) (*rollpinv1.ApiOptions, bool) {
	o, ok, err := resolveOption[*rollpinv1.ApiOptions](fd.Options(), rollpinv1.E_Api)
	return o, ok && err == nil
}

// FieldOptions returns the (rollpin.v1.field) option of a field; see
// FileAPIOptions for ok.
func FieldOptions(fd protoreflect.FieldDescriptor) (*rollpinv1.FieldOptions, bool) {
	o, ok, err := resolveOption[*rollpinv1.FieldOptions](fd.Options(), rollpinv1.E_Field)
	return o, ok && err == nil
}

// MethodOptions returns the (rollpin.v1.method) option of a method; see
// FileAPIOptions for ok.
func MethodOptions(md protoreflect.MethodDescriptor) (*rollpinv1.MethodOptions, bool) {
	o, ok, err := resolveOption[*rollpinv1.MethodOptions](md.Options(), rollpinv1.E_Method)
	return o, ok && err == nil
}

// EnumValueOptions returns the (rollpin.v1.enum_value) option of an enum
// value; see FileAPIOptions for ok.
func EnumValueOptions(ev protoreflect.EnumValueDescriptor) (*rollpinv1.EnumValueOptions, bool) {
	o, ok, err := resolveOption[*rollpinv1.EnumValueOptions](ev.Options(), rollpinv1.E_EnumValue)
	return o, ok && err == nil
}

// resolveOption reads the extension xt from an options message without
// proto.GetExtension, so that it copes with every way descriptors reach a
// program:
//
//   - generated descriptors: the extension is a field holding the generated
//     type C;
//   - descriptors built at run time (protodesc, dynamicpb, descriptor sets
//     read from disk) whose options were parsed with a resolver that knew a
//     different copy of the extension: the value is a dynamicpb.Message, which
//     is re-encoded into C;
//   - options parsed without knowing the extension at all: the value sits in
//     the unknown fields, whose records with the extension's number are
//     decoded into C (several records merge, as the wire format says).
//
// The options message is never modified, so resolveOption is safe for
// concurrent use. ok is false when the option is absent.
func resolveOption[C proto.Message](opts proto.Message, xt protoreflect.ExtensionType) (c C, ok bool, err error) {
	var zero C
	if opts == nil {
		return zero, false, nil
	}
	m := opts.ProtoReflect()
	if !m.IsValid() {
		return zero, false, nil
	}
	xd := xt.TypeDescriptor()
	num := xd.Number()
	extendee := xd.ContainingMessage().FullName()
	var found protoreflect.Message
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsExtension() && fd.Number() == num && fd.ContainingMessage().FullName() == extendee &&
			fd.Kind() == protoreflect.MessageKind && !fd.IsList() {
			found = v.Message()
			return false
		}
		return true
	})
	if found != nil {
		if typed, isC := found.Interface().(C); isC {
			return typed, true, nil
		}
		b, err := proto.Marshal(found.Interface())
		if err != nil {
			return zero, true, fmt.Errorf("re-encode option %s: %w", xd.FullName(), err)
		}
		c = zero.ProtoReflect().Type().New().Interface().(C)
		if err := proto.Unmarshal(b, c); err != nil {
			return zero, true, fmt.Errorf("decode option %s: %w", xd.FullName(), err)
		}
		return c, true, nil
	}
	raw := m.GetUnknown()
	if len(raw) == 0 {
		return zero, false, nil
	}
	var payload []byte
	for len(raw) > 0 {
		n, typ, l := protowire.ConsumeTag(raw)
		if l < 0 {
			return zero, false, fmt.Errorf("option %s: corrupt unknown fields: %w", xd.FullName(), protowire.ParseError(l))
		}
		raw = raw[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(raw)
			if l < 0 {
				return zero, true, fmt.Errorf("option %s: %w", xd.FullName(), protowire.ParseError(l))
			}
			payload = append(payload, v...)
			ok = true
			raw = raw[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, raw)
		if l < 0 {
			return zero, false, fmt.Errorf("option %s: corrupt unknown fields: %w", xd.FullName(), protowire.ParseError(l))
		}
		raw = raw[l:]
	}
	if !ok {
		return zero, false, nil
	}
	c = zero.ProtoReflect().Type().New().Interface().(C)
	if err := proto.Unmarshal(payload, c); err != nil {
		return zero, true, fmt.Errorf("decode option %s: %w", xd.FullName(), err)
	}
	return c, true, nil
}
