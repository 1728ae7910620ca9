package backport

import (
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoimpl"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// goLayout describes the Go struct of a generated message (open struct API)
// so that Downgrade can copy it the way hand-written code would: one typed
// copy of the block of user fields, and plain slice copies for repeated
// message fields. Through protoreflect, every Set of a scalar on a generated
// message allocates; this path does not.
//
// The layout is checked, not assumed: the struct must start with the
// message state, hold its user fields contiguously, and end with only
// unknownFields and sizeCache. Any other shape (extensions, weak or lazy
// fields, hand-written or future layouts, dynamicpb) has ok=false and the
// engine uses protoreflect instead. The block copy never reads the message
// state or the size cache, which protobuf updates atomically.
type goLayout struct {
	ptrType reflect.Type // *T
	elem    reflect.Type // T
	sliceT  reflect.Type // []T, for arenas
	// arrays[k] caches [k]T, for arenas of k elements.
	arrays [32]atomic.Pointer[reflect.Type]
	ok     bool
	base   uintptr // offset of the first user field
	block  ptrTo   // a struct type laid out like the user fields; nil when there are none
	lists  map[protoreflect.FieldNumber]goField
	// dg is index-aligned with plan.dg: the Go field of each, or an
	// invalid goField for oneof members (handled through protoreflect).
	dg []goField
}

type goField struct {
	off  uintptr
	typ  reflect.Type
	kind reflect.Kind
	ptr  ptrTo
	// itab is, for a oneof member (kind Interface), the first word of the
	// oneof interface when it holds this member's wrapper.
	itab unsafe.Pointer
}

// has reports presence the way protobuf does for a non-oneof field of the
// open struct API: non-nil pointer, non-empty slice, map or string,
// non-zero scalar (bitwise for floats, so -0 is present).
func (f *goField) has(msg unsafe.Pointer) bool {
	a := unsafe.Add(msg, f.off)
	switch f.kind {
	case reflect.Pointer:
		return *(*unsafe.Pointer)(a) != nil
	case reflect.Slice:
		return (*sliceHeader)(a).len > 0
	case reflect.String:
		return *(*string)(a) != ""
	case reflect.Bool:
		return *(*bool)(a)
	case reflect.Int32, reflect.Uint32, reflect.Float32:
		return *(*uint32)(a) != 0
	case reflect.Int64, reflect.Uint64, reflect.Float64:
		return *(*uint64)(a) != 0
	case reflect.Interface:
		// A oneof member is set when the oneof holds a non-nil wrapper of
		// its type.
		w := (*[2]unsafe.Pointer)(a)
		return w[0] == f.itab && w[1] != nil
	}
	v := f.ptr.at(a)
	if f.kind == reflect.Map {
		return v.Len() > 0
	}
	return !v.IsZero()
}

// clear zeroes the field.
func (f *goField) clear(msg unsafe.Pointer) {
	f.ptr.at(unsafe.Add(msg, f.off)).SetZero()
}

// ptrTo makes reflect.Values of type *X at a given address. It does what
// reflect.NewAt(X, p) does without NewAt's per-call lookup of the pointer
// type in reflect's global cache (the dominant cost for the struct types
// made with reflect.StructOf): the interface value of a nil *X is kept, and
// its data word replaced.
type ptrTo struct {
	nilPtr any // a nil *X
}

func newPtrTo(x reflect.Type) ptrTo {
	return ptrTo{nilPtr: reflect.Zero(reflect.PointerTo(x)).Interface()}
}

func (t ptrTo) valid() bool { return t.nilPtr != nil }

// at returns the addressable X stored at p.
func (t ptrTo) at(p unsafe.Pointer) reflect.Value {
	x := t.nilPtr
	(*[2]unsafe.Pointer)(unsafe.Pointer(&x))[1] = p
	return reflect.ValueOf(x).Elem()
}

// layoutFor returns the layout of m's Go type when the fast path applies.
func (p *plan) layoutFor(m protoreflect.Message) *goLayout {
	if reflect.TypeOf(m) != messageStateType {
		return nil
	}
	mi, ok := m.Type().(*protoimpl.MessageInfo)
	if !ok {
		return nil
	}
	t := mi.GoReflectType
	if l := p.layout.Load(); l != nil && l.ptrType == t {
		if l.ok {
			return l
		}
		return nil
	}
	l := buildLayout(t, mi.OneofWrappers, p)
	p.layout.Store(l)
	if l.ok {
		return l
	}
	return nil
}

func buildLayout(t reflect.Type, wrappers []any, p *plan) *goLayout {
	l := &goLayout{ptrType: t}
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return l
	}
	st := t.Elem()
	n := st.NumField()
	if n < 1 || st.Field(0).Name != "state" || st.Field(0).Type.Name() != "MessageState" ||
		st.Field(0).Offset != 0 || st.Field(0).Type.Size() != unsafe.Sizeof(unsafe.Pointer(nil)) {
		return l // newLike needs the state to be the message-info pointer, first
	}
	l.elem, l.sliceT = st, reflect.SliceOf(st)
	var user []reflect.StructField
	i := 1
	for ; i < n && st.Field(i).IsExported(); i++ {
		user = append(user, st.Field(i))
	}
	end := st.Size() // where the block must end, padding included
	if i < n {
		end = st.Field(i).Offset
	}
	for ; i < n; i++ {
		switch f := st.Field(i); {
		case f.Name == "unknownFields" || f.Name == "sizeCache":
		default:
			return l // extensions, weak or lazy fields, or an unknown shape
		}
	}
	l.lists = map[protoreflect.FieldNumber]goField{}
	byNum := map[protoreflect.FieldNumber]goField{}
	if len(user) > 0 {
		l.base = user[0].Offset
		fields := make([]reflect.StructField, len(user))
		for i, f := range user {
			fields[i] = reflect.StructField{Name: "F" + strconv.Itoa(i), Type: f.Type}
		}
		block := reflect.StructOf(fields)
		for i, f := range user {
			if block.Field(i).Offset != f.Offset-l.base {
				return l
			}
			if f.Tag.Get("protobuf_oneof") != "" && f.Type.Kind() == reflect.Interface {
				oneofMembers(f, wrappers, byNum)
				continue
			}
			num, ok := tagNumber(f.Tag.Get("protobuf"))
			if !ok {
				continue
			}
			gf := goField{off: f.Offset, typ: f.Type, kind: f.Type.Kind(), ptr: newPtrTo(f.Type)}
			byNum[num] = gf
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Pointer {
				l.lists[num] = gf
			}
		}
		if l.base+block.Size() > end {
			return l
		}
		l.block = newPtrTo(block)
		if p := l.block.at(unsafe.Pointer(new([64]byte))); p.Type() != block {
			return l // the interface layout is not what ptrTo expects
		}
	}
	if p != nil {
		l.dg = make([]goField, len(p.dg))
		for i, fp := range p.dg {
			if od := fp.fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
				if gf, ok := byNum[fp.fd.Number()]; ok && gf.kind == reflect.Interface {
					l.dg[i] = gf
				}
				continue // otherwise through protoreflect
			}
			if fp.fd.HasPresence() && fp.fd.Kind() == protoreflect.BytesKind {
				continue // presence is nil-ness, not length: protoreflect knows
			}
			gf, ok := byNum[fp.fd.Number()]
			if !ok || !kindMatches(fp.fd, gf.typ) {
				return l
			}
			l.dg[i] = gf
		}
	}
	l.ok = true
	return l
}

// oneofMembers adds to byNum the members of the oneof field f (an interface
// of the generated struct), one per wrapper type that implements it.
func oneofMembers(f reflect.StructField, wrappers []any, byNum map[protoreflect.FieldNumber]goField) {
	for _, w := range wrappers {
		wt := reflect.TypeOf(w)
		if wt == nil || !wt.Implements(f.Type) || wt.Kind() != reflect.Pointer ||
			wt.Elem().Kind() != reflect.Struct || wt.Elem().NumField() != 1 {
			continue
		}
		num, ok := tagNumber(wt.Elem().Field(0).Tag.Get("protobuf"))
		if !ok {
			continue
		}
		// The interface's first word when it holds a *W.
		iv := reflect.New(f.Type)
		iv.Elem().Set(reflect.Zero(wt))
		itab := (*[2]unsafe.Pointer)(iv.UnsafePointer())[0]
		if itab == nil {
			continue
		}
		byNum[num] = goField{off: f.Offset, typ: f.Type, kind: reflect.Interface, ptr: newPtrTo(f.Type), itab: itab}
	}
}

// kindMatches checks that a Go field has the shape protobuf gives fd, so
// that presence is read correctly.
func kindMatches(fd protoreflect.FieldDescriptor, t reflect.Type) bool {
	switch {
	case fd.IsMap():
		return t.Kind() == reflect.Map
	case fd.IsList():
		return t.Kind() == reflect.Slice
	case fd.HasPresence():
		return t.Kind() == reflect.Pointer
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return t.Kind() == reflect.String
	case protoreflect.BytesKind:
		return t.Kind() == reflect.Slice
	case protoreflect.BoolKind:
		return t.Kind() == reflect.Bool
	case protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return t.Kind() == reflect.Int32
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return t.Kind() == reflect.Uint32
	case protoreflect.FloatKind:
		return t.Kind() == reflect.Float32
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return t.Kind() == reflect.Int64
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return t.Kind() == reflect.Uint64
	case protoreflect.DoubleKind:
		return t.Kind() == reflect.Float64
	}
	return false
}

// tagNumber reads the field number from a `protobuf:"bytes,17,rep,..."` tag.
func tagNumber(tag string) (protoreflect.FieldNumber, bool) {
	parts := strings.Split(tag, ",")
	if len(parts) < 2 {
		return 0, false
	}
	n, err := strconv.ParseInt(parts[1], 10, 32)
	if err != nil {
		return 0, false
	}
	return protoreflect.FieldNumber(n), true
}

// messageStateType is the dynamic type of protoreflect.Message for
// generated messages: a pointer to the message state that opens their
// struct, so its data word is the struct's address.
var messageStateType = reflect.TypeOf((&rollpinv1.ApiOptions{}).ProtoReflect())

// msgPtr returns the address of the struct behind a generated message
// (layoutFor checked that m's dynamic type is messageStateType).
func msgPtr(m protoreflect.Message) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&m))[1]
}

// arena hands out zeroed structs of one generated type from one block, so
// that the elements of a list that change cost one allocation, not one each.
type arena struct {
	l    *goLayout
	next unsafe.Pointer
	left int
}

// newLike returns a new, empty message of m's generated type (layout l),
// from the arena when it serves l. It initialises the message state the
// way the generated ProtoReflect does (the same message info as m), without
// protoreflect's per-message reflection.
func (d *downgrader) newLike(l *goLayout, m protoreflect.Message) protoreflect.Message {
	var p unsafe.Pointer
	if d.arena.l == l && d.arena.left > 0 {
		p = d.arena.next
		d.arena.left--
		if d.arena.left > 0 {
			d.arena.next = unsafe.Add(p, l.elem.Size())
		} else {
			d.arena.next = nil // never point past the block: the GC would follow it
		}
	} else {
		p = reflect.New(l.elem).UnsafePointer()
	}
	atomic.StorePointer((*unsafe.Pointer)(p), atomic.LoadPointer((*unsafe.Pointer)(msgPtr(m))))
	n := m
	(*[2]unsafe.Pointer)(unsafe.Pointer(&n))[1] = p
	return n
}

// copyGenerated returns a new message holding m's user fields (sharing
// sub-messages, slices and maps) and unknown fields.
func (d *downgrader) copyGenerated(l *goLayout, m protoreflect.Message) protoreflect.Message {
	n := d.newLike(l, m)
	if l.block.valid() {
		l.block.at(unsafe.Add(msgPtr(n), l.base)).Set(l.block.at(unsafe.Add(msgPtr(m), l.base)))
	}
	if u := m.GetUnknown(); len(u) > 0 {
		n.SetUnknown(u)
	}
	return n
}

// messageList downgrades the repeated message field f of cur through its Go
// layout. It returns the new slice's elements (nil when unchanged).
func (d *downgrader) messageList(op *capOp, f goField, cur protoreflect.Message) ([]unsafe.Pointer, error) {
	sub := op.sub
	src := (*sliceHeader)(unsafe.Add(msgPtr(cur), f.off))
	n := src.len
	// el is the elements' layout when it is known and valid: then each
	// element is reached through its pointer, as its ProtoReflect would.
	el := sub.p.layout.Load()
	if el == nil || !el.ok || el.ptrType != f.typ.Elem() {
		el = nil
	}
	// out is the new slice once an element changed: a []*T is an array of
	// pointers, which []unsafe.Pointer shares the layout of.
	var out []unsafe.Pointer
	// When this list installs an arena, the one it replaces is stashed as
	// it is at that moment and put back on the way out, so that no slot is
	// ever handed out twice.
	var stash arena
	replaced := false
	defer func() {
		if replaced {
			d.arena = stash
		}
	}()
	for i := range n {
		ep := *(*unsafe.Pointer)(unsafe.Add(src.data, uintptr(i)*ptrSize))
		if ep == nil {
			continue
		}
		var em protoreflect.Message
		layout := el
		if el != nil && atomic.LoadPointer((*unsafe.Pointer)(ep)) != nil {
			// The element's message state is initialised: its
			// protoreflect.Message is the state pointer, i.e. ep.
			em = messageAt(ep)
		} else {
			pm, _ := f.ptr.at(unsafe.Add(msgPtr(cur), f.off)).Index(i).Interface().(proto.Message)
			em = pm.ProtoReflect()
			layout = sub.p.layoutFor(em)
		}
		nm, changed, err := d.messageIn(sub, em, layout)
		if err != nil {
			return nil, prefixErr(err, "["+strconv.Itoa(i)+"]")
		}
		if !changed {
			continue
		}
		if out == nil {
			out = make([]unsafe.Pointer, n)
			copy(out, unsafe.Slice((*unsafe.Pointer)(src.data), n))
			// Later elements are likely to change too: take their copies
			// from one block.
			if el != nil && n-i > 1 {
				if !replaced {
					stash, replaced = d.arena, true
				}
				d.arena = arena{l: el, next: el.newArray(n - i - 1), left: n - i - 1}
			}
		}
		out[i] = msgPtr(nm)
	}
	return out, nil
}

// newArray allocates k zeroed structs of l's type, contiguous: one
// allocation, through an array type cached per length for small k.
func (l *goLayout) newArray(k int) unsafe.Pointer {
	if k >= len(l.arrays) {
		return reflect.MakeSlice(l.sliceT, k, k).UnsafePointer()
	}
	t := l.arrays[k].Load()
	if t == nil {
		at := reflect.ArrayOf(k, l.elem)
		t = &at
		l.arrays[k].Store(t)
	}
	return reflect.New(*t).UnsafePointer()
}

// sliceHeader is the layout of a Go slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

const ptrSize = unsafe.Sizeof(uintptr(0))

// messageAt returns the protoreflect.Message of the generated message at p,
// whose message state is initialised: the value its ProtoReflect returns.
func messageAt(p unsafe.Pointer) protoreflect.Message {
	m := stateTemplate
	(*[2]unsafe.Pointer)(unsafe.Pointer(&m))[1] = p
	return m
}

// stateTemplate is a protoreflect.Message of dynamic type messageStateType.
var stateTemplate = (&rollpinv1.ApiOptions{}).ProtoReflect()

// setList stores elems as the repeated message field f of m (a []*T).
func (l *goLayout) setList(m protoreflect.Message, f goField, elems []unsafe.Pointer) {
	*(*[]unsafe.Pointer)(unsafe.Add(msgPtr(m), f.off)) = elems
}

// layoutSlot is embedded in plan.
type layoutSlot = atomic.Pointer[goLayout]
