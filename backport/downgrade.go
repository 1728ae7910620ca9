package backport

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// downgrader carries one Downgrade call.
type downgrader struct {
	e   *Engine
	cap Manifest
	obs Observer
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
	dec := p.decide(cap)
	if dec.err != nil {
		return nil, dec.err
	}
	if !dec.need {
		return msg, nil
	}
	if p.gen != nil && e.generated {
		g := newGen(e, cap)
		var held *heldEvents
		if obs != nil {
			held = &heldEvents{}
			g.obs = held
		}
		out, err := p.gen.downgrade(msg, g)
		g.release()
		if err != nil {
			return nil, err
		}
		if held != nil {
			held.replay(obs)
		}
		return out, nil
	}
	cp := dec.cp
	if cp == nil {
		cp = p.capPlanFor(dec.key, cap)
	}
	// Events are held back until the whole tree is done: a Downgrade that
	// ends in an error reports nothing (nothing was sent).
	var held *heldEvents
	d := &downgrader{e: e, cap: cap}
	if obs != nil {
		held = &heldEvents{}
		d.obs = held
	}
	out, err := d.root(cp, m)
	if err != nil {
		return nil, err
	}
	if held != nil {
		held.replay(obs)
	}
	return out, nil
}

// capDecision is what a root plan decided for one cap: whether Downgrade
// has anything to do, the cap's versions of the plan's tracks (the key of
// its capPlan), and that capPlan once built. Manifests are immutable, so a
// decision is reused while the same Manifest value (the same storage) comes
// back, as it does for every call under one pin.
type capDecision struct {
	id   *Entry // the cap's storage; nil for an empty cap
	n    int
	need bool
	err  error
	key  []capKey
	cp   *capPlan
}

// capDecisions are the decisions for the last caps seen, newest first.
type capDecisions [4]*capDecision

// decide returns p's decision for cap, from a recent one when cap is the
// same Manifest.
func (p *plan) decide(cap Manifest) *capDecision {
	var id *Entry
	if len(cap.entries) > 0 {
		id = &cap.entries[0]
	}
	recent := p.lastCaps.Load()
	if recent != nil {
		for _, d := range recent {
			if d != nil && d.id == id && d.n == len(cap.entries) {
				return d
			}
		}
	}
	d := &capDecision{id: id, n: len(cap.entries)}
	// key is the cap restricted to the tracks this message reaches: what
	// the capPlan depends on.
	d.key = make([]capKey, 0, len(p.th))
	for i := range p.th {
		t := &p.th[i]
		cv, ok := cap.Get(t.track)
		d.key = append(d.key, capKey{cv, ok})
		if !ok {
			continue
		}
		if cv.Major != t.schema.Major {
			d.err = fmt.Errorf("%w: %s: track %s is %s in this schema and %s in the cap",
				ErrAcrossMajors, p.desc.FullName(), t.track, t.schema, cv)
			return d
		}
		if t.needs(cv) {
			d.need = true
		}
	}
	if d.need {
		d.cp = p.capPlanFor(d.key, cap)
	}
	var next capDecisions
	next[0] = d
	if recent != nil {
		copy(next[1:], recent[:])
	}
	p.lastCaps.Store(&next)
	return d
}

// root downgrades m through protoreflect. Copying a message field by field
// through protoreflect costs more than proto.Clone copies a whole tree
// (every Set of a scalar boxes it), so the protoreflect path first checks,
// reading only, whether anything in m must change; if so it clones m once
// and downgrades the clone in place. Generated code (generated.go) copies
// only the path to each change instead.
//
// Copy-on-write through protoreflect was measured on the bench request
// and lost to the clone: a Set of a scalar allocates twice (its boxing and
// its conversion), so copying the messages on the path field by field
// allocates more than the deep copy of the unchanged subtrees it saves;
// encoding the path's scalars with protowire for one proto.Unmarshal
// (and sharing the unchanged fields) copies every string and validates
// it, and was slower than the clone as well.
func (d *downgrader) root(cp *capPlan, m protoreflect.Message) (proto.Message, error) {
	change, err := d.probe(cp, m)
	if err != nil || !change {
		if err != nil {
			return nil, err
		}
		return m.Interface(), nil
	}
	c := proto.Clone(m.Interface())
	if err := d.inPlace(cp, c.ProtoReflect()); err != nil {
		return nil, err
	}
	return c, nil
}

// probe reports whether Downgrade must change m (whose capPlan is cp):
// a populated field newer than the cap (dropped, rejected or handed to a
// downgrader), an enum value newer than the cap, or unknown fields to drop,
// anywhere in m. It only reads, and stops at the first finding; a value
// that cannot be sent is reported by inPlace.
func (d *downgrader) probe(cp *capPlan, m protoreflect.Message) (bool, error) {
	if cp.dropUnknown && len(m.GetUnknown()) > 0 {
		return true, nil
	}
	for i := range cp.ops {
		op := &cp.ops[i]
		fd := op.fp.fd
		if op.single {
			// A singular message field: Get answers presence too.
			if sm := m.Get(fd).Message(); sm.IsValid() {
				if c, err := d.probe(op.sub, sm); c || err != nil {
					return c, err
				}
			}
			continue
		}
		if op.drop {
			if m.Has(fd) {
				return true, nil
			}
			continue
		}
		switch {
		case fd.IsList():
			// Has first: Get of an empty list allocates a view.
			if !m.Has(fd) {
				continue
			}
			l := m.Get(fd).List()
			for j, n := 0, l.Len(); j < n; j++ {
				if c, err := d.probeSingle(op, l.Get(j)); c || err != nil {
					return c, err
				}
			}
		case fd.IsMap():
			if m.Has(fd) {
				mp := m.Get(fd).Map()
				if c, err := d.probeMap(op, mp); c || err != nil {
					return c, err
				}
			}
		default:
			// A singular enum: most values are not newer than the
			// cap, so read the value first and ask for presence only
			// when it is (an unset field reads as its default).
			if op.sub == nil && !op.enumNewer(m.Get(fd).Enum()) {
				continue
			}
			if !m.Has(fd) {
				continue
			}
			if c, err := d.probeSingle(op, m.Get(fd)); c || err != nil {
				return c, err
			}
		}
	}
	return false, nil
}

// probeMap is probe for the values of map field op.
func (d *downgrader) probeMap(op *capOp, mp protoreflect.Map) (bool, error) {
	// The closure escapes: give it its own downgrader so that the
	// caller's stays on the stack.
	hd := &downgrader{e: d.e, cap: d.cap, obs: d.obs}
	var change bool
	var err error
	mp.Range(func(_ protoreflect.MapKey, ev protoreflect.Value) bool {
		change, err = hd.probeSingle(op, ev)
		return !change && err == nil
	})
	return change, err
}

func (d *downgrader) probeSingle(op *capOp, v protoreflect.Value) (bool, error) {
	if op.sub != nil {
		return d.probe(op.sub, v.Message())
	}
	return op.enumNewer(v.Enum()), nil
}

// enumNewer reports whether enum value n of op's field is newer than the
// cap.
func (op *capOp) enumNewer(n protoreflect.EnumNumber) bool {
	vp := op.fp.enum.lookup(n)
	return vp != nil && op.ecv.Less(vp.since)
}

// inPlace downgrades m, a private copy, in place.
func (d *downgrader) inPlace(cp *capPlan, m protoreflect.Message) error {
	p := cp.p
	// The downgrader runs first, before the engine clears anything.
	for i := range cp.custom {
		fp := cp.custom[i].fp
		if !m.Has(fp.fd) {
			continue
		}
		hook, ok := d.e.downgraders.get(p.desc.FullName())
		if !ok {
			return fmt.Errorf("%w for %s: field %s (since %s %s) is set and the cap is %s",
				ErrNoDowngrader, p.desc.FullName(), fp.fd.Name(), p.track, fp.since, cp.cv)
		}
		if err := hook(m, d.cap); err != nil {
			return fmt.Errorf("backport: downgrader for %s: %w", p.desc.FullName(), err)
		}
		break
	}
	for i := range cp.ops {
		op := &cp.ops[i]
		fp := op.fp
		fd := fp.fd
		if op.single {
			// A singular message field: Get answers presence too.
			if sm := m.Get(fd).Message(); sm.IsValid() {
				if err := d.inPlace(op.sub, sm); err != nil {
					return prefixErr(err, string(fd.Name()))
				}
			}
			continue
		}
		if op.drop {
			if d.obs == nil && fp.action != rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT {
				// Nothing to report or refuse: clearing an unset
				// field costs what asking for it does.
				m.Clear(fd)
				continue
			}
			if !m.Has(fd) {
				continue
			}
			if fp.action == rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT {
				return &RejectError{
					Path: string(fd.Name()), Field: fd.FullName(), Track: p.track, Since: fp.since, Cap: cp.cv,
				}
			}
			m.Clear(fd)
			if d.obs != nil {
				d.obs.FieldDropped(fd)
			}
			continue
		}
		var err error
		switch {
		case fd.IsList():
			// Has first: Get of an empty list allocates a view.
			if !m.Has(fd) {
				continue
			}
			l := m.Get(fd).List()
			for j, n := 0, l.Len(); j < n && err == nil; j++ {
				if op.sub != nil {
					err = d.inPlace(op.sub, l.Get(j).Message())
				} else if n, changed, e := d.enumIn(op, l.Get(j).Enum()); changed {
					l.Set(j, protoreflect.ValueOfEnum(n))
				} else {
					err = e
				}
				if err != nil {
					err = prefixErr(err, "["+strconv.Itoa(j)+"]")
				}
			}
		case fd.IsMap():
			if m.Has(fd) {
				mp := m.Get(fd).Map()
				err = d.inPlaceMap(op, mp)
			}
		default:
			// A singular enum (see probe): the value first, presence
			// only for a value newer than the cap.
			v := m.Get(fd)
			if op.sub == nil && !op.enumNewer(v.Enum()) {
				continue
			}
			if !m.Has(fd) {
				continue
			}
			if op.sub != nil {
				err = d.inPlace(op.sub, v.Message())
			} else if n, changed, e := d.enumIn(op, v.Enum()); changed {
				m.Set(fd, protoreflect.ValueOfEnum(n))
			} else {
				err = e
			}
		}
		if err != nil {
			return prefixErr(err, string(fd.Name()))
		}
	}
	// Unknown fields are newer than anything this binary knows: drop them
	// from a message whose track is capped below this binary's version.
	if cp.dropUnknown && len(m.GetUnknown()) > 0 {
		m.SetUnknown(nil)
	}
	return nil
}

// inPlaceMap downgrades the values of map field op in place.
func (d *downgrader) inPlaceMap(op *capOp, mp protoreflect.Map) error {
	// The closure escapes: give it its own downgrader so that the
	// caller's stays on the stack.
	hd := &downgrader{e: d.e, cap: d.cap, obs: d.obs}
	var err error
	mp.Range(func(k protoreflect.MapKey, ev protoreflect.Value) bool {
		if op.sub != nil {
			err = hd.inPlace(op.sub, ev.Message())
		} else if n, changed, e := hd.enumIn(op, ev.Enum()); changed {
			mp.Set(k, protoreflect.ValueOfEnum(n))
		} else {
			err = e
		}
		if err != nil {
			err = prefixErr(err, mapKeyText(k))
		}
		return err == nil
	})
	return err
}

// enumIn returns what enum value from of op's field becomes, and whether
// it changes.
func (d *downgrader) enumIn(op *capOp, from protoreflect.EnumNumber) (protoreflect.EnumNumber, bool, error) {
	if !op.enumNewer(from) {
		return from, false, nil
	}
	n, err := d.enum(op, from)
	return n, err == nil && n != from, err
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
