package backport

import (
	"errors"
	"sort"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// A plan is what the engine knows about one message type, compiled once from
// its descriptor and the descriptors reachable from it.
type plan struct {
	desc    protoreflect.MessageDescriptor
	track   string // "" when the message's package is unversioned
	version Version

	// all holds every field that matters to the engine: fields with a since,
	// and fields whose message or enum type is versioned.
	all []*fieldPlan
	// dg are the fields Downgrade looks at; fill those FillDefaults looks at.
	dg, fill []*fieldPlan
	// custom are the ON_DOWNGRADE_CUSTOM fields, checked before anything else.
	custom []*fieldPlan

	// th has one entry per track reachable from this message, sorted by
	// track; it lets Downgrade and FillDefaults decide with one comparison
	// per track that a whole subtree needs no work.
	th []threshold

	children []*plan     // plans of message-typed fields
	enums    []*enumPlan // plans of enum-typed fields
	errs     []error     // invalid options of this message's own fields
	err      error       // every invalid option in the subtree; nil when valid

	caps capSlot        // capPlans of the last caps Downgrade saw at this root (capplan.go)
	gen  *generatedCode // generated code covering the subtree (generated.go); nil: none
	// lastCaps are the decisions for the last caps Downgrade saw at this
	// root (downgrade.go).
	lastCaps atomic.Pointer[capDecisions]
}

// threshold summarises one track over a subtree.
type threshold struct {
	track  string
	schema Version // the track's version in this schema
	// max is the highest since of a field or enum value of the track in the
	// subtree (valid when hasMax): a cap at or above it leaves the subtree
	// unchanged.
	max    Version
	hasMax bool
	// fillMax is the highest since of a field with a default (valid when
	// hasFill): a sender at or above it needs no defaults.
	fillMax Version
	hasFill bool
	// hasMsg: the subtree holds a message of the track, whose unknown
	// fields Downgrade drops when the cap is below schema.
	hasMsg bool
}

type fieldPlan struct {
	fd       protoreflect.FieldDescriptor
	hasSince bool
	since    Version
	action   rollpinv1.OnDowngrade

	hasDefault bool
	defVal     protoreflect.Value // scalar and enum defaults
	defMsg     []byte             // message defaults, in wire form

	msg  *plan     // message type of the field, list elements or map values
	enum *enumPlan // enum type of the field, list elements or map values
}

type enumPlan struct {
	desc    protoreflect.EnumDescriptor
	track   string
	version Version
	values  []enumValuePlan // values with a since, sorted by number
	max     Version
	hasMax  bool
	errs    []error
}

type enumValuePlan struct {
	num   protoreflect.EnumNumber
	desc  protoreflect.EnumValueDescriptor
	since Version
	hasTo bool
	to    protoreflect.EnumNumber
}

func (ep *enumPlan) lookup(n protoreflect.EnumNumber) *enumValuePlan {
	for i := range ep.values {
		if ep.values[i].num == n {
			return &ep.values[i]
		}
	}
	return nil
}

// planFor returns the compiled plan of md, compiling it (and everything it
// reaches) on first use. Plans live in a copy-on-write map read with one
// atomic load, behind a one-entry cache of the last plan returned.
func (e *Engine) planFor(md protoreflect.MessageDescriptor) *plan {
	if p := e.plans.last.Load(); p != nil && p.desc == md {
		return p
	}
	if mp := e.plans.m.Load(); mp != nil {
		if p := (*mp)[md]; p != nil {
			e.plans.last.Store(p)
			return p
		}
	}
	e.plans.mu.Lock()
	defer e.plans.mu.Unlock()
	var old map[protoreflect.MessageDescriptor]*plan
	if mp := e.plans.m.Load(); mp != nil {
		old = *mp
		if p := old[md]; p != nil {
			return p
		}
	}
	b := &builder{
		e:      e,
		old:    old,
		new:    map[protoreflect.MessageDescriptor]*plan{},
		enums:  map[protoreflect.EnumDescriptor]*enumPlan{},
		tracks: map[protoreflect.FileDescriptor]trackInfo{},
	}
	p := b.message(md)
	b.finish()
	b.attachGenerated()
	next := make(map[protoreflect.MessageDescriptor]*plan, len(old)+len(b.new))
	for k, v := range old {
		next[k] = v
	}
	for k, v := range b.new {
		next[k] = v
	}
	e.plans.m.Store(&next)
	return p
}

type trackInfo struct {
	track     string
	version   Version
	versioned bool
	err       error
}

// builder compiles the plans of one message and every type it reaches that
// has no plan yet. A plan is entered in new before its fields are compiled,
// so that cyclic types find it (a placeholder) instead of recursing forever.
type builder struct {
	e      *Engine
	old    map[protoreflect.MessageDescriptor]*plan
	new    map[protoreflect.MessageDescriptor]*plan
	order  []*plan
	enums  map[protoreflect.EnumDescriptor]*enumPlan
	tracks map[protoreflect.FileDescriptor]trackInfo
}

func (b *builder) track(f protoreflect.FileDescriptor) trackInfo {
	if ti, ok := b.tracks[f]; ok {
		return ti
	}
	t, v, ok, err := trackOfFile(b.e.registryHolding(f), f)
	ti := trackInfo{track: t, version: v, versioned: ok, err: err}
	b.tracks[f] = ti
	return ti
}

func (b *builder) message(md protoreflect.MessageDescriptor) *plan {
	if p := b.old[md]; p != nil {
		return p
	}
	if p := b.new[md]; p != nil {
		return p
	}
	ti := b.track(md.ParentFile())
	p := &plan{desc: md, track: ti.track, version: ti.version}
	if !ti.versioned {
		p.track, p.version = "", Version{}
	}
	if ti.err != nil {
		p.errs = append(p.errs, ti.err)
	}
	b.new[md] = p
	b.order = append(b.order, p)

	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		fp := &fieldPlan{fd: fd}
		b.fieldOptions(p, ti, fp)
		vd := fd
		if fd.IsMap() {
			vd = fd.MapValue()
		}
		switch vd.Kind() {
		case protoreflect.MessageKind, protoreflect.GroupKind:
			fp.msg = b.message(vd.Message())
			p.children = append(p.children, fp.msg)
		case protoreflect.EnumKind:
			fp.enum = b.enum(vd.Enum())
			p.enums = append(p.enums, fp.enum)
		}
		if fp.hasSince || fp.msg != nil || fp.enum != nil {
			p.all = append(p.all, fp)
		}
		if fp.hasSince && fp.action == rollpinv1.OnDowngrade_ON_DOWNGRADE_CUSTOM {
			p.custom = append(p.custom, fp)
		}
	}
	return p
}

// fieldOptions reads the (rollpin.v1.field) option of fp.fd, validated by
// the annotation rules (rules.go).
func (b *builder) fieldOptions(p *plan, ti trackInfo, fp *fieldPlan) {
	a, vs := checkField(fp.fd, ti)
	for _, v := range vs {
		p.errs = append(p.errs, v)
	}
	if !a.hasSince {
		return
	}
	fp.hasSince, fp.since, fp.action = true, a.since, a.action
	fp.hasDefault, fp.defVal, fp.defMsg = a.hasDefault, a.defVal, a.defMsg
}

func (b *builder) enum(ed protoreflect.EnumDescriptor) *enumPlan {
	if ep := b.enums[ed]; ep != nil {
		return ep
	}
	ti := b.track(ed.ParentFile())
	ep := &enumPlan{desc: ed}
	if ti.err != nil {
		ep.errs = append(ep.errs, ti.err)
	}
	if ti.versioned {
		ep.track, ep.version = ti.track, ti.version
	}
	b.enums[ed] = ep
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		ev := vals.Get(i)
		a, vs := checkEnumValue(ev, ti)
		for _, v := range vs {
			ep.errs = append(ep.errs, v)
		}
		if !a.hasSince {
			continue
		}
		since := a.since
		vp := enumValuePlan{num: ev.Number(), desc: ev, since: since, hasTo: a.hasTo, to: a.to}
		if dup := ep.lookup(vp.num); dup != nil {
			continue // an alias (allow_alias) of a value already planned
		}
		ep.values = append(ep.values, vp)
		if !ep.hasMax || ep.max.Less(since) {
			ep.max, ep.hasMax = since, true
		}
	}
	sort.Slice(ep.values, func(i, j int) bool { return ep.values[i].num < ep.values[j].num })
	return ep
}

// finish computes, for every plan built in this session, the per-track
// thresholds and the errors of its whole subtree (to a fixpoint, so cycles
// are handled), then the field lists the engine walks.
func (b *builder) finish() {
	for _, p := range b.order {
		if p.track != "" {
			t := threshold{track: p.track, schema: p.version, hasMsg: true}
			for _, fp := range p.all {
				if !fp.hasSince {
					continue
				}
				if !t.hasMax || t.max.Less(fp.since) {
					t.max, t.hasMax = fp.since, true
				}
				if fp.hasDefault && (!t.hasFill || t.fillMax.Less(fp.since)) {
					t.fillMax, t.hasFill = fp.since, true
				}
			}
			p.th = mergeThreshold(p.th, t)
		}
		for _, ep := range p.enums {
			if ep.track != "" {
				p.th = mergeThreshold(p.th, threshold{track: ep.track, schema: ep.version, max: ep.max, hasMax: ep.hasMax})
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, p := range b.order {
			for _, c := range p.children {
				if c == p {
					continue
				}
				for _, t := range c.th {
					before := len(p.th)
					var grew bool
					p.th, grew = mergeThresholdChanged(p.th, t)
					if grew || len(p.th) != before {
						changed = true
					}
				}
			}
		}
	}
	for _, p := range b.order {
		p.err = subtreeErrors(p)
		for _, fp := range p.all {
			if fp.hasSince || (fp.msg != nil && fp.msg.mayChange()) || (fp.enum != nil && fp.enum.hasMax) {
				p.dg = append(p.dg, fp)
			}
			if (fp.hasSince && fp.hasDefault) || (fp.msg != nil && len(fp.msg.th) > 0) {
				p.fill = append(p.fill, fp)
			}
		}
	}
}

// mayChange reports whether some cap can make Downgrade change p's
// subtree: it holds a since, or a message of a track (unknown fields).
func (p *plan) mayChange() bool {
	for i := range p.th {
		if p.th[i].hasMax || p.th[i].hasMsg {
			return true
		}
	}
	return false
}

func mergeThreshold(ts []threshold, t threshold) []threshold {
	ts, _ = mergeThresholdChanged(ts, t)
	return ts
}

// mergeThresholdChanged folds t into ts (sorted by track) and reports
// whether an existing entry grew.
func mergeThresholdChanged(ts []threshold, t threshold) ([]threshold, bool) {
	i := sort.Search(len(ts), func(i int) bool { return ts[i].track >= t.track })
	if i == len(ts) || ts[i].track != t.track {
		ts = append(ts, threshold{})
		copy(ts[i+1:], ts[i:])
		ts[i] = t
		return ts, false
	}
	grew := false
	e := &ts[i]
	if t.hasMax && (!e.hasMax || e.max.Less(t.max)) {
		e.max, e.hasMax = t.max, true
		grew = true
	}
	if t.hasFill && (!e.hasFill || e.fillMax.Less(t.fillMax)) {
		e.fillMax, e.hasFill = t.fillMax, true
		grew = true
	}
	if t.hasMsg && !e.hasMsg {
		e.hasMsg = true
		grew = true
	}
	return ts, grew
}

// subtreeErrors joins the option errors of every plan and enum reachable
// from p, each once.
func subtreeErrors(p *plan) error {
	var errs []error
	texts := map[string]bool{}
	add := func(es []error) {
		for _, e := range es {
			if t := e.Error(); !texts[t] {
				texts[t] = true
				errs = append(errs, e)
			}
		}
	}
	seen := map[*plan]bool{}
	seenEnum := map[*enumPlan]bool{}
	var walk func(*plan)
	walk = func(p *plan) {
		if seen[p] {
			return
		}
		seen[p] = true
		add(p.errs)
		for _, ep := range p.enums {
			if !seenEnum[ep] {
				seenEnum[ep] = true
				add(ep.errs)
			}
		}
		for _, c := range p.children {
			walk(c)
		}
	}
	walk(p)
	return errors.Join(errs...)
}
