package backport

import (
	"fmt"
	"strconv"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// capCacheSize is how many tracks (by trackID) one Downgrade call memoises.
const capCacheSize = 32

// downgrader carries one Downgrade call.
type downgrader struct {
	cap Manifest
	obs Observer
	// state[id] is 0 (not looked up), 1 (track absent from cap) or 2
	// (cap holds vals[id]).
	state [capCacheSize]uint8
	vals  [capCacheSize]Version
	arena arena // see messageList
}

// capOf returns the cap's version of a track.
func (d *downgrader) capOf(id int, track string) (Version, bool) {
	if uint(id) >= capCacheSize {
		return d.cap.Get(track)
	}
	switch d.state[id] {
	case 1:
		return Version{}, false
	case 2:
		return d.vals[id], true
	}
	v, ok := d.cap.Get(track)
	if ok {
		d.vals[id], d.state[id] = v, 2
	} else {
		d.state[id] = 1
	}
	return v, ok
}

func downgradeMessage(msg proto.Message, cap Manifest, obs Observer) (proto.Message, error) {
	if msg == nil {
		return nil, nil
	}
	m := msg.ProtoReflect()
	if !m.IsValid() {
		return msg, nil
	}
	p := planFor(m.Descriptor())
	if p.err != nil {
		return nil, fmt.Errorf("backport: cannot downgrade %s: %w", p.desc.FullName(), p.err)
	}
	need := false
	for i := range p.th {
		t := &p.th[i]
		cv, ok := cap.Get(t.track)
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
	// Events are held back until the whole tree is done: a Downgrade that
	// ends in an error reports nothing (nothing was sent).
	var held *heldEvents
	d := &downgrader{cap: cap}
	if obs != nil {
		held = &heldEvents{}
		d.obs = held
	}
	out, changed, err := d.message(p, m)
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

// needs reports whether some track of p's subtree is capped below the
// highest since it holds.
func (d *downgrader) needs(p *plan) bool {
	for i := range p.th {
		t := &p.th[i]
		if !t.hasMax {
			continue
		}
		if cv, ok := d.capOf(t.id, t.track); ok && cv.Less(t.max) {
			return true
		}
	}
	return false
}

func (d *downgrader) enumNeeds(ep *enumPlan) bool {
	if !ep.hasMax {
		return false
	}
	cv, ok := d.capOf(ep.trackID, ep.track)
	return ok && cv.Less(ep.max)
}

// message downgrades m, whose subtree needs work. It returns m itself and
// changed=false when nothing had to change, and otherwise a new message that
// shares every unchanged field (and sub-tree) with m.
func (d *downgrader) message(p *plan, m protoreflect.Message) (protoreflect.Message, bool, error) {
	var cv Version
	capped := false
	if p.track != "" {
		cv, capped = d.capOf(p.trackID, p.track)
	}
	cur, owned := m, false
	layout := p.layoutFor(m)

	// Custom downgraders run first, on a private deep copy, so that
	// nothing they do can reach the input.
	if capped {
		for _, fp := range p.custom {
			if !cv.Less(fp.since) || !m.Has(fp.fd) {
				continue
			}
			hook, ok := downgraders.get(p.desc.FullName())
			if !ok {
				return nil, false, fmt.Errorf("%w for %s: field %s (since %s %s) is set and the cap is %s",
					ErrNoDowngrader, p.desc.FullName(), fp.fd.Name(), p.track, fp.since, cv)
			}
			cur, owned = proto.Clone(m.Interface()).ProtoReflect(), true
			if err := hook(cur, d.cap); err != nil {
				return nil, false, fmt.Errorf("backport: downgrader for %s: %w", p.desc.FullName(), err)
			}
			break
		}
	}

	var curPtr unsafe.Pointer
	if layout != nil {
		curPtr = msgPtr(cur)
	}
	for i, fp := range p.dg {
		fd := fp.fd
		var gf *goField
		if layout != nil && layout.dg[i].ptr.valid() {
			gf = &layout.dg[i]
		}
		if fp.hasSince && capped && cv.Less(fp.since) {
			if gf != nil && !gf.has(curPtr) || gf == nil && !cur.Has(fd) {
				continue
			}
			if fp.action == rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT {
				return nil, false, &RejectError{
					Path: string(fd.Name()), Field: fd.FullName(), Track: p.track, Since: fp.since, Cap: cv,
				}
			}
			if !owned {
				cur, owned = d.copyMessage(layout, cur), true
				if layout != nil {
					curPtr = msgPtr(cur)
				}
			}
			if gf != nil {
				gf.clear(curPtr)
			} else {
				cur.Clear(fd)
			}
			if d.obs != nil {
				d.obs.FieldDropped(fd)
			}
			continue
		}
		if gf != nil && !gf.has(curPtr) {
			continue
		}
		switch {
		case fp.msg != nil:
			if !d.needs(fp.msg) {
				continue
			}
		case fp.enum != nil:
			if !d.enumNeeds(fp.enum) {
				continue
			}
		default:
			continue
		}
		if gf == nil && !cur.Has(fd) {
			continue
		}
		if layout != nil && fp.msg != nil && fd.IsList() {
			if f, ok := layout.lists[fd.Number()]; ok {
				nl, err := d.messageList(fp, f, cur)
				if err != nil {
					return nil, false, prefixErr(err, string(fd.Name()))
				}
				if nl.IsValid() {
					if !owned {
						cur, owned = d.copyMessage(layout, cur), true
						curPtr = msgPtr(cur)
					}
					layout.setList(cur, f, nl)
				}
				continue
			}
		}
		v, changed, err := d.value(fp, cur, cur.Get(fd))
		if err != nil {
			return nil, false, prefixErr(err, string(fd.Name()))
		}
		if changed {
			if !owned {
				cur, owned = d.copyMessage(layout, cur), true
				if layout != nil {
					curPtr = msgPtr(cur)
				}
			}
			if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
				// A copied oneof may share its wrapper with the input:
				// clear it so that Set allocates a new one.
				cur.Clear(fd)
			}
			cur.Set(fd, v)
		}
	}

	// Unknown fields are newer than anything this schema knows: drop them
	// from a message whose track is capped below this schema.
	if capped && cv.Less(p.version) && len(cur.GetUnknown()) > 0 {
		if !owned {
			cur, owned = d.copyMessage(layout, cur), true
		}
		cur.SetUnknown(nil)
	}
	return cur, owned, nil
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
func (d *downgrader) value(fp *fieldPlan, parent protoreflect.Message, v protoreflect.Value) (protoreflect.Value, bool, error) {
	fd := fp.fd
	switch {
	case fd.IsList():
		src := v.List()
		var out protoreflect.List
		for i, n := 0, src.Len(); i < n; i++ {
			ev := src.Get(i)
			nv, changed, err := d.single(fp, ev)
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
		hd := &downgrader{cap: d.cap, obs: d.obs}
		src.Range(func(k protoreflect.MapKey, ev protoreflect.Value) bool {
			nv, changed, e := hd.single(fp, ev)
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
		return d.single(fp, v)
	}
}

// single downgrades one message or enum value of field fp.
func (d *downgrader) single(fp *fieldPlan, v protoreflect.Value) (protoreflect.Value, bool, error) {
	if fp.msg != nil {
		nm, changed, err := d.message(fp.msg, v.Message())
		if err != nil || !changed {
			return v, false, err
		}
		return protoreflect.ValueOfMessage(nm), true, nil
	}
	ep := fp.enum
	cv, ok := d.capOf(ep.trackID, ep.track)
	if !ok {
		return v, false, nil
	}
	from := v.Enum()
	n := from
	for range len(ep.values) + 1 {
		vp := ep.lookup(n)
		if vp == nil || !cv.Less(vp.since) {
			break
		}
		if !vp.hasTo {
			return protoreflect.Value{}, false, &RejectError{
				Field: fp.fd.FullName(), EnumValue: vp.desc.FullName(), Track: ep.track, Since: vp.since, Cap: cv,
			}
		}
		n = vp.to
	}
	if n == from {
		return v, false, nil
	}
	if d.obs != nil {
		vals := ep.desc.Values()
		d.obs.EnumDowngraded(fp.fd, vals.ByNumber(from), vals.ByNumber(n))
	}
	return protoreflect.ValueOfEnum(n), true, nil
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
