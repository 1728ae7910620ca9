package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// fill writes RollpinFill.
func (g *gen) fill(m *protogen.Message) {
	s := g.s
	t := g.QualifiedGoIdent(m.GoIdent)
	track, schema, versioned := s.track(m.Desc)
	g.P("// RollpinFill sets, in place, the declared default of every unpopulated")
	g.P("// field newer than the sender of g, recursively through present")
	g.P("// sub-messages, and runs the upgrader of each message the sender is older")
	g.P("// than. Generated for backport.FillDefaults.")
	g.P("func (x *", t, ") RollpinFill(g *", g.id(backportPkg, "Gen"), ") error {")
	g.P("if x == nil { return nil }")
	if versioned {
		g.P("sv, known := g.Version(", strconv.Quote(track), ")")
		g.P("older := known && sv.Less(", g.version(schema), ")")
	}
	for _, f := range m.Fields {
		if !s.handles(f.Desc) {
			continue
		}
		o := s.field(f.Desc)
		md := msgOf(f.Desc)
		descend := md != nil && s.mayChange(md)
		switch {
		case o.hasSince && versioned && o.def != "":
			g.P("if older && sv.Less(", g.version(o.since), ") {")
			g.setDefault(f, o.def)
			if descend {
				g.P("} else {")
				g.fillDescent(f)
			}
			g.P("}")
		case o.hasSince && versioned && descend:
			// Nothing to fill when the sender did not know the field; a
			// sub-message it sent is filled inside.
			g.P("if !older || !sv.Less(", g.version(o.since), ") {")
			g.fillDescent(f)
			g.P("}")
		case o.hasSince && versioned:
			// The sender may not know the field, and it has no default.
		case descend:
			g.fillDescent(f)
		}
	}
	if versioned {
		g.P("if older && g.HasUpgraders() {")
		g.P("if err := g.RunUpgrader(x); err != nil { return err }")
		g.P("}")
	}
	g.P("return nil")
	g.P("}")
	g.P()
}

func msgOf(fd protoreflect.FieldDescriptor) protoreflect.MessageDescriptor {
	if fd.IsMap() {
		return fd.MapValue().Message()
	}
	return fd.Message()
}

// fillDescent writes the recursion of RollpinFill into field f.
func (g *gen) fillDescent(f *protogen.Field) {
	switch {
	case f.Desc.IsMap() || f.Desc.IsList():
		g.P("for _, v := range x.", f.GoName, " {")
		g.P("if err := v.RollpinFill(g); err != nil { return err }")
		g.P("}")
	case inOneof(f):
		g.P("if w, ok := x.", f.Oneof.GoName, ".(*", g.QualifiedGoIdent(f.GoIdent), "); ok {")
		g.P("if err := w.", f.GoName, ".RollpinFill(g); err != nil { return err }")
		g.P("}")
	default:
		g.P("if err := x.", f.GoName, ".RollpinFill(g); err != nil { return err }")
	}
}

// setDefault writes: when field f of x is unpopulated (and, in a oneof, no
// other member is set), set it to the default declared by text.
func (g *gen) setDefault(f *protogen.Field, text string) {
	num := f.Desc.Number()
	observe := "if g.Observing() { g.DefaultFilled(" + g.desc() + ", " + strconv.Itoa(int(num)) + ") }"
	lit := g.literal(f, text)
	switch {
	case inOneof(f):
		g.P("if x.", f.Oneof.GoName, " == nil {")
		g.P("x.", f.Oneof.GoName, " = &", g.QualifiedGoIdent(f.GoIdent), "{", f.GoName, ": ", lit, "}")
	case f.Desc.Message() != nil:
		g.P("if x.", f.GoName, " == nil {")
		g.P("x.", f.GoName, " = ", lit)
	case f.Desc.HasPresence():
		g.P("if x.", f.GoName, " == nil {")
		g.P("x.", f.GoName, " = new(", lit, ")")
	default:
		g.P("if !(", g.presence("x", f), ") {")
		g.P("x.", f.GoName, " = ", lit)
	}
	g.P(observe)
	g.P("}")
}

// literal returns a Go expression of field f's type holding the default
// text (already validated by the engine). Message defaults become
// composite literals when they only set singular scalar, enum and message
// fields, and are decoded from their wire form otherwise.
func (g *gen) literal(f *protogen.Field, text string) string {
	fd := f.Desc
	if fd.Message() != nil {
		dm := dynamicpb.NewMessage(fd.Message())
		if err := prototext.Unmarshal([]byte(text), dm); err != nil {
			g.P("// invalid default: ", err.Error())
			return "nil"
		}
		if lit, ok := g.messageLiteral(f.Message, dm); ok {
			return lit
		}
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(dm)
		t := g.QualifiedGoIdent(f.Message.GoIdent)
		return fmt.Sprintf("func() *%s { m := new(%s); _ = %s(%s, m); return m }()", t, t, g.id(protoPkg, "Unmarshal"), byteLit(b))
	}
	if fd.Enum() != nil {
		ev := fd.Enum().Values().ByName(protoreflect.Name(text))
		for _, v := range f.Enum.Values {
			if ev != nil && v.Desc.Number() == ev.Number() {
				return g.QualifiedGoIdent(v.GoIdent)
			}
		}
		return "0"
	}
	v, ok := scalarLiteral(fd.Kind(), text, g)
	if !ok {
		return "0"
	}
	return v
}

func byteLit(b []byte) string {
	var sb strings.Builder
	sb.WriteString("[]byte{")
	for i, c := range b {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(int(c)))
	}
	sb.WriteString("}")
	return sb.String()
}

// messageLiteral writes &T{...} for a parsed message default, when every
// populated field is a singular scalar, enum or message.
func (g *gen) messageLiteral(m *protogen.Message, dm protoreflect.Message) (string, bool) {
	var parts []string
	ok := true
	for _, f := range m.Fields {
		fd := f.Desc
		if !dm.Has(fd) {
			continue
		}
		if fd.IsList() || fd.IsMap() || inOneof(f) || (fd.HasPresence() && fd.Message() == nil) {
			return "", false
		}
		v := dm.Get(fd)
		var lit string
		switch {
		case fd.Message() != nil:
			lit, ok = g.messageLiteral(f.Message, v.Message())
		case fd.Enum() != nil:
			lit = "0"
			for _, ev := range f.Enum.Values {
				if ev.Desc.Number() == v.Enum() {
					lit = g.QualifiedGoIdent(ev.GoIdent)
					break
				}
			}
		default:
			lit, ok = scalarValue(fd.Kind(), v, g)
		}
		if !ok {
			return "", false
		}
		parts = append(parts, f.GoName+": "+lit)
	}
	return "&" + g.QualifiedGoIdent(m.GoIdent) + "{" + strings.Join(parts, ", ") + "}", true
}

// scalarLiteral parses text as the engine does and returns a typed Go
// expression.
func scalarLiteral(k protoreflect.Kind, text string, g *gen) (string, bool) {
	var v protoreflect.Value
	switch k {
	case protoreflect.BoolKind:
		v = protoreflect.ValueOfBool(text == "true")
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(text, 10, 32)
		if err != nil {
			return "", false
		}
		v = protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return "", false
		}
		v = protoreflect.ValueOfInt64(n)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(text, 10, 32)
		if err != nil {
			return "", false
		}
		v = protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return "", false
		}
		v = protoreflect.ValueOfUint64(n)
	case protoreflect.FloatKind:
		n, err := strconv.ParseFloat(text, 32)
		if err != nil && !math.IsInf(n, 0) {
			return "", false
		}
		v = protoreflect.ValueOfFloat32(float32(n))
	case protoreflect.DoubleKind:
		n, err := strconv.ParseFloat(text, 64)
		if err != nil && !math.IsInf(n, 0) {
			return "", false
		}
		v = protoreflect.ValueOfFloat64(n)
	case protoreflect.StringKind:
		v = protoreflect.ValueOfString(text)
	case protoreflect.BytesKind:
		v = protoreflect.ValueOfBytes([]byte(text))
	default:
		return "", false
	}
	return scalarValue(k, v, g)
}

// scalarValue returns a typed Go expression for a scalar value.
func scalarValue(k protoreflect.Kind, v protoreflect.Value, g *gen) (string, bool) {
	float := func(f float64, bits int, typ string) string {
		switch {
		case math.IsInf(f, 1):
			return typ + "(" + g.id(mathPkg, "Inf") + "(1))"
		case math.IsInf(f, -1):
			return typ + "(" + g.id(mathPkg, "Inf") + "(-1))"
		case math.IsNaN(f):
			return typ + "(" + g.id(mathPkg, "NaN") + "())"
		case f == 0 && math.Signbit(f):
			return typ + "(" + g.id(mathPkg, "Copysign") + "(0, -1))"
		}
		return typ + "(" + strconv.FormatFloat(f, 'g', -1, bits) + ")"
	}
	switch k {
	case protoreflect.BoolKind:
		return strconv.FormatBool(v.Bool()), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "int32(" + strconv.FormatInt(v.Int(), 10) + ")", true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "int64(" + strconv.FormatInt(v.Int(), 10) + ")", true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "uint32(" + strconv.FormatUint(v.Uint(), 10) + ")", true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "uint64(" + strconv.FormatUint(v.Uint(), 10) + ")", true
	case protoreflect.FloatKind:
		return float(v.Float(), 32, "float32"), true
	case protoreflect.DoubleKind:
		return float(v.Float(), 64, "float64"), true
	case protoreflect.StringKind:
		return strconv.Quote(v.String()), true
	case protoreflect.BytesKind:
		return "[]byte(" + strconv.Quote(string(v.Bytes())) + ")", true
	}
	return "", false
}

// hooks writes typed hook helpers for a message with ON_DOWNGRADE_CUSTOM
// fields.
func (g *gen) hooks(m *protogen.Message) {
	custom := false
	for _, f := range m.Fields {
		if o := g.s.field(f.Desc); o.hasSince && o.action == 3 {
			custom = true
		}
	}
	if !custom {
		return
	}
	t := g.QualifiedGoIdent(m.GoIdent)
	name := strconv.Quote(string(m.Desc.FullName()))
	manifest := g.id(backportPkg, "Manifest")
	for _, kind := range []struct{ hook, what, arg string }{
		{"Downgrader", "downgrader: it rewrites a private copy of the message before the engine clears its fields newer than the cap", "cap"},
		{"Upgrader", "upgrader: it completes a message from an older sender after its defaults are filled", "sender"},
	} {
		g.P("// With", m.GoIdent.GoName, kind.hook, " returns an option of backport.New installing fn as the")
		g.P("// ", m.Desc.FullName(), " ", kind.what, ".")
		g.P("func With", m.GoIdent.GoName, kind.hook, "(fn func(m *", t, ", ", kind.arg, " ", manifest, ") error) ", g.id(backportPkg, "Option"), " {")
		g.P("return ", g.id(backportPkg, "With"+kind.hook), "(", name, ", ", g.id(backportPkg, "TypedHook"), "(fn))")
		g.P("}")
		g.P()
		g.P("// Register", m.GoIdent.GoName, kind.hook, " installs fn on backport's default engine as the")
		g.P("// ", m.Desc.FullName(), " ", kind.what, ". A nil fn removes it.")
		g.P("func Register", m.GoIdent.GoName, kind.hook, "(fn func(m *", t, ", ", kind.arg, " ", manifest, ") error) {")
		g.P("if fn == nil {")
		g.P(g.id(backportPkg, "Register"+kind.hook), "(", name, ", nil)")
		g.P("return")
		g.P("}")
		g.P(g.id(backportPkg, "Register"+kind.hook), "(", name, ", ", g.id(backportPkg, "TypedHook"), "(fn))")
		g.P("}")
		g.P()
	}
}
