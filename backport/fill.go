package backport

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// filler carries one FillDefaults call.
type filler struct {
	e      *Engine
	sender Manifest
	obs    Observer
	hooks  bool // some upgrader is registered
}

func (e *Engine) fillMessage(msg proto.Message, sender Manifest, obs Observer) error {
	if msg == nil {
		return nil
	}
	m := msg.ProtoReflect()
	if !m.IsValid() {
		return nil
	}
	p := e.planFor(m.Descriptor())
	if p.err != nil {
		return fmt.Errorf("backport: cannot fill defaults of %s: %w", p.desc.FullName(), p.err)
	}
	f := filler{e: e, sender: sender, obs: obs, hooks: !e.upgraders.empty()}
	if t, sv := p.acrossMajors(sender); t != nil {
		return fmt.Errorf("%w: %s: track %s is %s in this schema and %s at the sender",
			ErrAcrossMajors, p.desc.FullName(), t.track, t.schema, sv)
	}
	if !f.needs(p) {
		return nil
	}
	if p.gen != nil && e.generated {
		g := newGen(e, sender)
		g.obs = obs
		err := p.gen.fill(msg, g)
		g.release()
		return err
	}
	return f.message(p, m)
}

// needs reports whether the sender is older than a default (or, when
// upgraders are registered, than the schema) somewhere in p's subtree.
func (f *filler) needs(p *plan) bool { return fillNeeded(p, f.sender, f.hooks) }

// acrossMajors returns a track of p's subtree that sender holds in another
// major than the schema, with sender's version of it; nil when none.
func (p *plan) acrossMajors(sender Manifest) (*threshold, Version) {
	for i := range p.th {
		t := &p.th[i]
		if sv, ok := sender.Get(t.track); ok && sv.Major != t.schema.Major {
			return t, sv
		}
	}
	return nil, Version{}
}

func fillNeeded(p *plan, sender Manifest, hooks bool) bool {
	for i := range p.th {
		t := &p.th[i]
		sv, ok := sender.Get(t.track)
		if !ok {
			continue
		}
		if t.hasFill && sv.Less(t.fillMax) {
			return true
		}
		if hooks && sv.Less(t.schema) {
			return true
		}
	}
	return false
}

func (f *filler) message(p *plan, m protoreflect.Message) error {
	var sv Version
	older := false
	if p.track != "" {
		var ok bool
		sv, ok = f.sender.Get(p.track)
		older = ok && sv.Less(p.version)
	}
	for _, fp := range p.fill {
		fd := fp.fd
		if fp.hasSince && older && sv.Less(fp.since) {
			// The sender could not know this field: fill it, never look
			// inside.
			if fp.hasDefault && !m.Has(fd) && !oneofTaken(m, fd) {
				f.setDefault(fp, m)
			}
			continue
		}
		if fp.msg == nil || !m.Has(fd) || !f.needs(fp.msg) {
			continue
		}
		var err error
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			for i, n := 0, l.Len(); i < n && err == nil; i++ {
				err = f.message(fp.msg, l.Get(i).Message())
			}
		case fd.IsMap():
			// The closure escapes: give it its own filler so that the
			// caller's stays on the stack.
			hf := &filler{e: f.e, sender: f.sender, obs: f.obs, hooks: f.hooks}
			m.Get(fd).Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
				err = hf.message(fp.msg, v.Message())
				return err == nil
			})
		default:
			err = f.message(fp.msg, m.Get(fd).Message())
		}
		if err != nil {
			return err
		}
	}
	if older && f.hooks {
		if hook, ok := f.e.upgraders.get(p.desc.FullName()); ok {
			if err := hook(m, f.sender); err != nil {
				return fmt.Errorf("backport: upgrader for %s: %w", p.desc.FullName(), err)
			}
		}
	}
	return nil
}

// oneofTaken reports whether another member of fd's oneof is set.
func oneofTaken(m protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	od := fd.ContainingOneof()
	if od == nil || od.IsSynthetic() {
		return false
	}
	return m.WhichOneof(od) != nil
}

func (f *filler) setDefault(fp *fieldPlan, m protoreflect.Message) {
	fd := fp.fd
	switch {
	case fp.defMsg != nil:
		v := m.NewField(fd)
		// The default was validated when the plan was compiled.
		if err := proto.Unmarshal(fp.defMsg, v.Message().Interface()); err != nil {
			return
		}
		m.Set(fd, v)
	case fd.Kind() == protoreflect.BytesKind:
		m.Set(fd, protoreflect.ValueOfBytes(bytes.Clone(fp.defVal.Bytes())))
	default:
		m.Set(fd, fp.defVal)
	}
	if f.obs != nil {
		f.obs.DefaultFilled(fd)
	}
}
