package compattest

import (
	"math"
	"math/rand/v2"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// generator builds random messages.
type generator struct {
	rng      *rand.Rand
	maxDepth int
}

// message returns a random message of type md. When prev is the same
// message in the previous release (nil: unconstrained), the message is one
// that Downgrade can send to that release when the schema is right: no
// populated field newer than prev whose on_downgrade is REJECT or CUSTOM, and
// no newer enum value with a since but no downgrade_to in a field prev knows.
func (g *generator) message(md, prev protoreflect.MessageDescriptor, depth int) *dynamicpb.Message {
	m := dynamicpb.NewMessage(md)
	oneofDone := map[protoreflect.FullName]bool{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if g.rng.IntN(10) < 4 {
			continue
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if oneofDone[od.FullName()] {
				continue
			}
			oneofDone[od.FullName()] = true
		}
		var pfd protoreflect.FieldDescriptor
		if prev != nil {
			pfd = prev.Fields().ByNumber(fd.Number())
			if pfd == nil && !sendable(fd) {
				continue
			}
		}
		if fd.Message() != nil && depth >= g.maxDepth {
			continue
		}
		g.setField(m, fd, pfd, depth)
	}
	return m
}

// sendable reports whether a populated field that the receiver does not know
// can be downgraded without a registered hook and without refusal.
func sendable(fd protoreflect.FieldDescriptor) bool {
	o := fieldOptions(fd)
	switch o.GetOnDowngrade() {
	case rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT, rollpinv1.OnDowngrade_ON_DOWNGRADE_CUSTOM:
		return false
	}
	return true
}

func (g *generator) setField(m *dynamicpb.Message, fd, pfd protoreflect.FieldDescriptor, depth int) {
	n := 1 + g.rng.IntN(3)
	switch {
	case fd.IsMap():
		mp := m.Mutable(fd).Map()
		var pv protoreflect.FieldDescriptor
		if pfd != nil && pfd.IsMap() {
			pv = pfd.MapValue()
		}
		for range n {
			k := g.scalar(fd.MapKey(), nil)
			mp.Set(k.MapKey(), g.value(mp.NewValue, fd.MapValue(), pv, depth))
		}
	case fd.IsList():
		l := m.Mutable(fd).List()
		for range n {
			l.Append(g.value(l.NewElement, fd, pfd, depth))
		}
	default:
		m.Set(fd, g.value(func() protoreflect.Value { return m.NewField(fd) }, fd, pfd, depth))
	}
}

// value returns one random value for fd (an element for lists and map
// values). newMsg makes an empty message of the right type.
func (g *generator) value(newMsg func() protoreflect.Value, fd, pfd protoreflect.FieldDescriptor, depth int) protoreflect.Value {
	if fd.Message() != nil {
		var prev protoreflect.MessageDescriptor
		if pfd != nil {
			prev = pfd.Message()
		}
		sub := g.message(fd.Message(), prev, depth+1)
		v := newMsg()
		// Copy sub into the value of the right concrete type.
		sub.Range(func(f protoreflect.FieldDescriptor, x protoreflect.Value) bool {
			v.Message().Set(f, x)
			return true
		})
		return v
	}
	return g.scalar(fd, pfd)
}

func (g *generator) scalar(fd, pfd protoreflect.FieldDescriptor) protoreflect.Value {
	r := g.rng
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(g.int64()))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(g.int64())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(g.int64()))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(g.int64()))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(r.NormFloat64() * 1e3))
	case protoreflect.DoubleKind:
		f := r.NormFloat64() * 1e6
		if r.IntN(20) == 0 {
			f = math.MaxFloat64
		}
		return protoreflect.ValueOfFloat64(f)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(g.text())
	case protoreflect.BytesKind:
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return protoreflect.ValueOfBytes(b)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(g.enum(fd, pfd))
	}
	return protoreflect.Value{}
}

// enum picks a value of fd's enum; when pfd is the field in the previous
// release, a value the previous enum lacks is not picked when it carries a
// since but no downgrade_to (Downgrade refuses it by design).
func (g *generator) enum(fd, pfd protoreflect.FieldDescriptor) protoreflect.EnumNumber {
	vals := fd.Enum().Values()
	var ok []protoreflect.EnumNumber
	for i := 0; i < vals.Len(); i++ {
		v := vals.Get(i)
		if pfd != nil && pfd.Enum() != nil && pfd.Enum().Values().ByNumber(v.Number()) == nil {
			// A value annotated as newer with no downgrade_to is refused
			// by design; one without since must reach the check.
			if o := enumValueOptions(v); o.GetSince() != "" && o.GetDowngradeTo() == "" {
				continue
			}
		}
		ok = append(ok, v.Number())
	}
	if len(ok) == 0 {
		return 0
	}
	return ok[g.rng.IntN(len(ok))]
}

func (g *generator) int64() int64 {
	switch g.rng.IntN(4) {
	case 0:
		return int64(g.rng.IntN(10))
	case 1:
		return -int64(g.rng.IntN(1000))
	default:
		return g.rng.Int64() >> g.rng.IntN(63)
	}
}

func (g *generator) text() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_ é中"
	rs := []rune(alphabet)
	n := g.rng.IntN(10)
	out := make([]rune, n)
	for i := range out {
		out[i] = rs[g.rng.IntN(len(rs))]
	}
	return string(out)
}

// fieldOptions and enumValueOptions read the rollpin options through
// backport's resolver; a corrupt option reads as absent (the engine reports
// it when it compiles a plan, and RoundTrip surfaces that error).
func fieldOptions(fd protoreflect.FieldDescriptor) *rollpinv1.FieldOptions {
	o, _ := backport.FieldOptions(fd)
	return o
}

func enumValueOptions(vd protoreflect.EnumValueDescriptor) *rollpinv1.EnumValueOptions {
	o, _ := backport.EnumValueOptions(vd)
	return o
}
