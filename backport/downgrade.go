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
	cap Manifest
	obs Observer
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
	d := downgrader{cap: cap, obs: obs}
	out, changed, err := d.message(p, m)
	if err != nil {
		return nil, err
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
		if cv, ok := d.cap.Get(t.track); ok && cv.Less(t.max) {
			return true
		}
	}
	return false
}

func (d *downgrader) enumNeeds(ep *enumPlan) bool {
	if !ep.hasMax {
		return false
	}
	cv, ok := d.cap.Get(ep.track)
	return ok && cv.Less(ep.max)
}

// message downgrades m, whose subtree needs work. It returns m itself and
// changed=false when nothing had to change, and otherwise a new message that
// shares every unchanged field (and sub-tree) with m.
func (d *downgrader) message(p *plan, m protoreflect.Message) (protoreflect.Message, bool, error) {
	var cv Version
	capped := false
	if p.track != "" {
		cv, capped = d.cap.Get(p.track)
	}
	cur, owned := m, false
	ensure := func() {
		if !owned {
			cur, owned = shallowCopy(cur), true
		}
	}

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

	for _, fp := range p.dg {
		fd := fp.fd
		if fp.hasSince && capped && cv.Less(fp.since) {
			if !cur.Has(fd) {
				continue
			}
			if fp.action == rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT {
				return nil, false, &RejectError{
					Path: string(fd.Name()), Field: fd.FullName(), Track: p.track, Since: fp.since, Cap: cv,
				}
			}
			ensure()
			cur.Clear(fd)
			if d.obs != nil {
				d.obs.FieldDropped(fd)
			}
			continue
		}
		switch {
		case fp.msg != nil:
			if !d.needs(fp.msg) || !cur.Has(fd) {
				continue
			}
		case fp.enum != nil:
			if !d.enumNeeds(fp.enum) || !cur.Has(fd) {
				continue
			}
		default:
			continue
		}
		v, changed, err := d.value(fp, cur, cur.Get(fd))
		if err != nil {
			return nil, false, prefixErr(err, string(fd.Name()))
		}
		if changed {
			ensure()
			cur.Set(fd, v)
		}
	}

	// Unknown fields are newer than anything this schema knows: drop them
	// from a message whose track is capped below this schema.
	if capped && cv.Less(p.version) && len(cur.GetUnknown()) > 0 {
		ensure()
		cur.SetUnknown(nil)
	}
	return cur, owned, nil
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
		src.Range(func(k protoreflect.MapKey, ev protoreflect.Value) bool {
			nv, changed, e := d.single(fp, ev)
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
	cv, ok := d.cap.Get(ep.track)
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
