package backport

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// downgrader carries one Downgrade call.
type downgrader struct {
	e     *Engine
	cap   Manifest
	obs   Observer
	arena arena // see messageList
}

func (e *Engine) downgradeMessage(msg proto.Message, cap Manifest, obs Observer) (proto.Message, error) {
	if msg == nil {
		return nil, nil
	}
	m := msg.ProtoReflect()
	if !m.IsValid() {
		return msg, nil
	}
	p := e.planFor(m.Descriptor())
	if p.err != nil {
		return nil, fmt.Errorf("backport: cannot downgrade %s: %w", p.desc.FullName(), p.err)
	}
	// key is the cap restricted to the tracks this message reaches: what
	// the capPlan depends on.
	var keyBuf [8]capKey
	key := keyBuf[:0]
	need := false
	for i := range p.th {
		t := &p.th[i]
		cv, ok := cap.Get(t.track)
		key = append(key, capKey{cv, ok})
		if !ok {
			continue
		}
		if cv.Major != t.schema.Major {
			return nil, fmt.Errorf("%w: %s: track %s is %s in this schema and %s in the cap",
				ErrAcrossMajors, p.desc.FullName(), t.track, t.schema, cv)
		}
		if t.hasMax && cv.Less(t.max) {
			need = true
		}
	}
	if !need {
		return msg, nil
	}
	cp := p.capPlanFor(key, cap)
	// Events are held back until the whole tree is done: a Downgrade that
	// ends in an error reports nothing (nothing was sent).
	var held *heldEvents
	d := &downgrader{e: e, cap: cap}
	if obs != nil {
		held = &heldEvents{}
		d.obs = held
	}
	out, changed, err := d.message(cp, m)
	if err != nil {
		return nil, err
	}
	if held != nil {
		held.replay(obs)
	}
	if !changed {
		return msg, nil
	}
	return out.Interface(), nil
}

// message downgrades m, whose subtree needs work. It returns m itself and
// changed=false when nothing had to change, and otherwise a new message that
// shares every unchanged field (and sub-tree) with m.
func (d *downgrader) message(cp *capPlan, m protoreflect.Message) (protoreflect.Message, bool, error) {
	return d.messageIn(cp, m, cp.p.layoutFor(m))
}

// messageIn is message for a caller that already knows m's Go layout (nil
// when m is not a generated message of the open struct API).
func (d *downgrader) messageIn(cp *capPlan, m protoreflect.Message, layout *goLayout) (protoreflect.Message, bool, error) {
	p := cp.p
	w := working{m: m}
	if layout != nil {
		w.ptr = msgPtr(m)
	}

	// Custom downgraders run first, on a private deep copy, so that
	// nothing they do can reach the input.
	for i := range cp.custom {
		fp := cp.custom[i].fp
		if !present(layout, &cp.custom[i], w.ptr, m) {
			continue
		}
		hook, ok := d.e.downgraders.get(p.desc.FullName())
		if !ok {
			return nil, false, fmt.Errorf("%w for %s: field %s (since %s %s) is set and the cap is %s",
				ErrNoDowngrader, p.desc.FullName(), fp.fd.Name(), p.track, fp.since, cp.cv)
		}
		w.m, w.owned = proto.Clone(m.Interface()).ProtoReflect(), true
		if err := hook(w.m, d.cap); err != nil {
			return nil, false, fmt.Errorf("backport: downgrader for %s: %w", p.desc.FullName(), err)
		}
		if layout != nil {
			w.ptr = msgPtr(w.m)
		}
		break
	}

	for i := range cp.ops {
		op := &cp.ops[i]
		fp := op.fp
		fd := fp.fd
		gf := op.goField(layout)
		if gf != nil {
			if !gf.has(w.ptr) {
				continue
			}
		} else if !w.m.Has(fd) {
			continue
		}
		if op.drop {
			if fp.action == rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT {
				return nil, false, &RejectError{
					Path: string(fd.Name()), Field: fd.FullName(), Track: p.track, Since: fp.since, Cap: cp.cv,
				}
			}
			w.own(d, layout)
			if gf != nil {
				gf.clear(w.ptr)
			} else {
				w.m.Clear(fd)
			}
			if d.obs != nil {
				d.obs.FieldDropped(fd)
			}
			continue
		}
		if gf != nil && op.direct != directNone {
			addr := unsafe.Add(w.ptr, gf.off)
			switch op.direct {
			case directEnum:
				from := protoreflect.EnumNumber(*(*int32)(addr))
				n, err := d.enum(op, from)
				if err != nil {
					return nil, false, prefixErr(err, string(fd.Name()))
				}
				if n != from {
					w.own(d, layout)
					*(*int32)(unsafe.Add(w.ptr, gf.off)) = int32(n)
				}
				continue
			case directMessage:
				ep := *(*unsafe.Pointer)(addr)
				el := op.sub.p.layout.Load()
				if el != nil && el.ok && el.ptrType == gf.typ && atomic.LoadPointer((*unsafe.Pointer)(ep)) != nil {
					nm, changed, err := d.messageIn(op.sub, messageAt(ep), el)
					if err != nil {
						return nil, false, prefixErr(err, string(fd.Name()))
					}
					if changed {
						w.own(d, layout)
						*(*unsafe.Pointer)(unsafe.Add(w.ptr, gf.off)) = msgPtr(nm)
					}
					continue
				}
			}
		}
		if layout != nil && op.sub != nil && fd.IsList() {
			if f, ok := layout.lists[fd.Number()]; ok {
				nl, err := d.messageList(op, f, w.m)
				if err != nil {
					return nil, false, prefixErr(err, string(fd.Name()))
				}
				if nl != nil {
					w.own(d, layout)
					layout.setList(w.m, f, nl)
				}
				continue
			}
		}
		v, changed, err := d.value(op, w.m, w.m.Get(fd))
		if err != nil {
			return nil, false, prefixErr(err, string(fd.Name()))
		}
		if changed {
			w.own(d, layout)
			if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
				// A copied oneof may share its wrapper with the input:
				// clear it so that Set allocates a new one.
				w.m.Clear(fd)
			}
			w.m.Set(fd, v)
		}
	}

	// Unknown fields are newer than anything this schema knows: drop them
	// from a message whose track is capped below this schema.
	if cp.dropUnknown && len(w.m.GetUnknown()) > 0 {
		w.own(d, layout)
		w.m.SetUnknown(nil)
	}
	return w.m, w.owned, nil
}

// working is the message messageIn builds: its input until something has
// to change, then a shallow copy that it owns.
type working struct {
	m     protoreflect.Message
	ptr   unsafe.Pointer // m's Go struct, when the layout is known
	owned bool
}

// own makes w.m a copy of the input that can be changed, once.
func (w *working) own(d *downgrader, layout *goLayout) {
	if w.owned {
		return
	}
	w.m, w.owned = d.copyMessage(layout, w.m), true
	if layout != nil {
		w.ptr = msgPtr(w.m)
	}
}

// goField returns the Go field of op's field in layout, or nil when it is
// reached through protoreflect.
func (op *capOp) goField(layout *goLayout) *goField {
	if layout != nil && op.idx >= 0 && layout.dg[op.idx].ptr.valid() {
		return &layout.dg[op.idx]
	}
	return nil
}

// present reports whether op's field is set in m (at ptr when layout is
// not nil).
func present(layout *goLayout, op *capOp, ptr unsafe.Pointer, m protoreflect.Message) bool {
	if gf := op.goField(layout); gf != nil {
		return gf.has(ptr)
	}
	return m.Has(op.fp.fd)
}

// copyMessage returns a shallow copy of m: through its Go layout when it is
// a generated message, through protoreflect otherwise.
func (d *downgrader) copyMessage(layout *goLayout, m protoreflect.Message) protoreflect.Message {
	if layout != nil {
		return d.copyGenerated(layout, m)
	}
	return shallowCopy(m)
}

// value downgrades the populated value v of field fp of parent (singular,
// list or map). A changed list or map is a new one, built with parent's
// NewField.
func (d *downgrader) value(op *capOp, parent protoreflect.Message, v protoreflect.Value) (protoreflect.Value, bool, error) {
	fd := op.fp.fd
	switch {
	case fd.IsList():
		src := v.List()
		var out protoreflect.List
		for i, n := 0, src.Len(); i < n; i++ {
			ev := src.Get(i)
			nv, changed, err := d.single(op, ev)
			if err != nil {
				return protoreflect.Value{}, false, prefixErr(err, "["+strconv.Itoa(i)+"]")
			}
			if changed && out == nil {
				out = parent.NewField(fd).List()
				for j := 0; j < i; j++ {
					out.Append(src.Get(j))
				}
			}
			if out != nil {
				out.Append(nv)
			}
		}
		if out == nil {
			return v, false, nil
		}
		return protoreflect.ValueOfList(out), true, nil
	case fd.IsMap():
		src := v.Map()
		type change struct {
			k protoreflect.MapKey
			v protoreflect.Value
		}
		var changes []change
		var err error
		// The closure escapes: give it its own downgrader so that the
		// caller's stays on the stack.
		hd := &downgrader{e: d.e, cap: d.cap, obs: d.obs}
		src.Range(func(k protoreflect.MapKey, ev protoreflect.Value) bool {
			nv, changed, e := hd.single(op, ev)
			if e != nil {
				err = prefixErr(e, mapKeyText(k))
				return false
			}
			if changed {
				changes = append(changes, change{k, nv})
			}
			return true
		})
		if err != nil {
			return protoreflect.Value{}, false, err
		}
		if len(changes) == 0 {
			return v, false, nil
		}
		out := parent.NewField(fd).Map()
		src.Range(func(k protoreflect.MapKey, ev protoreflect.Value) bool {
			out.Set(k, ev)
			return true
		})
		for _, c := range changes {
			out.Set(c.k, c.v)
		}
		return protoreflect.ValueOfMap(out), true, nil
	default:
		return d.single(op, v)
	}
}

// single downgrades one message or enum value of the field of op.
func (d *downgrader) single(op *capOp, v protoreflect.Value) (protoreflect.Value, bool, error) {
	if op.sub != nil {
		nm, changed, err := d.message(op.sub, v.Message())
		if err != nil || !changed {
			return v, false, err
		}
		return protoreflect.ValueOfMessage(nm), true, nil
	}
	from := v.Enum()
	n, err := d.enum(op, from)
	if err != nil || n == from {
		return v, false, err
	}
	return protoreflect.ValueOfEnum(n), true, nil
}

// enum returns the value that enum value from of op's field becomes under
// the cap (from itself when it is not newer), and reports the change.
func (d *downgrader) enum(op *capOp, from protoreflect.EnumNumber) (protoreflect.EnumNumber, error) {
	fp := op.fp
	ep, cv := fp.enum, op.ecv
	n := from
	for range len(ep.values) + 1 {
		vp := ep.lookup(n)
		if vp == nil || !cv.Less(vp.since) {
			break
		}
		if !vp.hasTo {
			return from, &RejectError{
				Field: fp.fd.FullName(), EnumValue: vp.desc.FullName(), Track: ep.track, Since: vp.since, Cap: cv,
			}
		}
		n = vp.to
	}
	if n != from && d.obs != nil {
		vals := ep.desc.Values()
		d.obs.EnumDowngraded(fp.fd, vals.ByNumber(from), vals.ByNumber(n))
	}
	return n, nil
}

// shallowCopy returns a new message of m's type holding m's populated fields
// and unknown fields; messages, lists and maps are shared, not cloned.
func shallowCopy(m protoreflect.Message) protoreflect.Message {
	n := m.Type().New()
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		n.Set(fd, v)
		return true
	})
	if u := m.GetUnknown(); len(u) > 0 {
		n.SetUnknown(u)
	}
	return n
}

// heldEvents records what one Downgrade call would report, to be replayed to
// the caller's Observer only when the call succeeds.
type heldEvents struct {
	events []heldEvent
}

type heldEvent struct {
	fd       protoreflect.FieldDescriptor
	from, to protoreflect.EnumValueDescriptor // nil for a dropped field
}

func (h *heldEvents) FieldDropped(fd protoreflect.FieldDescriptor) {
	h.events = append(h.events, heldEvent{fd: fd})
}

func (h *heldEvents) EnumDowngraded(fd protoreflect.FieldDescriptor, from, to protoreflect.EnumValueDescriptor) {
	h.events = append(h.events, heldEvent{fd: fd, from: from, to: to})
}

// DefaultFilled is never called during a Downgrade.
func (h *heldEvents) DefaultFilled(protoreflect.FieldDescriptor) {}

func (h *heldEvents) replay(obs Observer) {
	for _, e := range h.events {
		if e.to != nil {
			obs.EnumDowngraded(e.fd, e.from, e.to)
		} else {
			obs.FieldDropped(e.fd)
		}
	}
}
