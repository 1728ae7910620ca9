package backport

import (
	"slices"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// A capPlan is a plan specialised to one cap: every decision that depends
// only on versions (is this field newer than the cap, does this subtree
// hold anything newer, does this enum have values above the cap) is taken
// once, when the capPlan is built, and Downgrade only looks at the fields
// that can change. Caps change when pins move, which is rare next to the
// calls made under them, so each root plan keeps the capPlans of the last
// few caps it saw (capCache).
type capPlan struct {
	p      *plan
	cv     Version // the cap's version of p.track, when capped
	capped bool
	// custom are p's ON_DOWNGRADE_CUSTOM fields newer than the cap.
	custom []capOp
	// ops are the fields of p.dg that the cap affects, in p.dg order.
	ops []capOp
	// dropUnknown: unknown fields are dropped (the cap is below p's schema).
	dropUnknown bool
}

// capOp is one field Downgrade looks at under the cap.
type capOp struct {
	fp  *fieldPlan
	idx int // index in p.dg and in goLayout.dg
	// drop: the field is newer than the cap (it is cleared, or rejected).
	drop bool
	// sub is the capPlan of the field's message type (its elements or
	// values for a list or map), whose subtree holds something newer.
	sub *capPlan
	// ecv is the cap's version of an enum field's track.
	ecv Version
	// direct says how a generated message's Go field can be handled
	// without protoreflect (when its layout has the field).
	direct directKind
}

type directKind uint8

const (
	directNone    directKind = iota
	directEnum               // a singular, non-oneof enum field: an int32
	directMessage            // a singular, non-oneof message field: a pointer
)

// directOf returns how fd's Go field can be read and written directly.
func directOf(fd protoreflect.FieldDescriptor) directKind {
	if fd.IsList() || fd.IsMap() {
		return directNone
	}
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		return directNone
	}
	switch fd.Kind() {
	case protoreflect.EnumKind:
		if fd.HasPresence() {
			return directNone // a *int32 in proto2 and for proto3 optional
		}
		return directEnum
	case protoreflect.MessageKind:
		return directMessage
	}
	return directNone
}

// buildCapPlan compiles p (and, through memo, every plan it reaches,
// cycles included) for cap.
func buildCapPlan(p *plan, cap Manifest, memo map[*plan]*capPlan) *capPlan {
	if cp, ok := memo[p]; ok {
		return cp
	}
	cp := &capPlan{p: p}
	memo[p] = cp
	if p.track != "" {
		cp.cv, cp.capped = cap.Get(p.track)
	}
	if cp.capped {
		for _, fp := range p.custom {
			if cp.cv.Less(fp.since) {
				cp.custom = append(cp.custom, capOp{fp: fp, idx: slices.Index(p.dg, fp), drop: true})
			}
		}
		cp.dropUnknown = cp.cv.Less(p.version)
	}
	for i, fp := range p.dg {
		switch {
		case fp.hasSince && cp.capped && cp.cv.Less(fp.since):
			cp.ops = append(cp.ops, capOp{fp: fp, idx: i, drop: true})
		case fp.msg != nil:
			if subtreeNeeds(fp.msg, cap) {
				cp.ops = append(cp.ops, capOp{fp: fp, idx: i, sub: buildCapPlan(fp.msg, cap, memo), direct: directOf(fp.fd)})
			}
		case fp.enum != nil:
			ep := fp.enum
			if ecv, ok := cap.Get(ep.track); ok && ep.hasMax && ecv.Less(ep.max) {
				cp.ops = append(cp.ops, capOp{fp: fp, idx: i, ecv: ecv, direct: directOf(fp.fd)})
			}
		}
	}
	return cp
}

// subtreeNeeds reports whether some track of p's subtree is capped below
// the highest since it holds.
func subtreeNeeds(p *plan, cap Manifest) bool {
	for i := range p.th {
		t := &p.th[i]
		if cv, ok := cap.Get(t.track); ok && t.hasMax && cv.Less(t.max) {
			return true
		}
	}
	return false
}

// capKey is the cap's version of one track of a root plan's th: the part of
// a cap that a capPlan depends on.
type capKey struct {
	v  Version
	ok bool
}

// capCacheEntries bounds the capPlans one root plan keeps.
const capCacheEntries = 8

type capCache struct {
	entries []capEntry // newest last
}

type capEntry struct {
	key  []capKey
	root *capPlan
}

// capPlanFor returns p's capPlan for a cap whose versions of p.th's tracks
// are key, building it on first use. Lookups are lock-free; a new entry is
// published by copy-on-write.
func (p *plan) capPlanFor(key []capKey, cap Manifest) *capPlan {
	if c := p.caps.Load(); c != nil {
		for i := len(c.entries) - 1; i >= 0; i-- {
			if slices.Equal(c.entries[i].key, key) {
				return c.entries[i].root
			}
		}
	}
	root := buildCapPlan(p, cap, map[*plan]*capPlan{})
	e := capEntry{key: slices.Clone(key), root: root}
	for {
		old := p.caps.Load()
		n := &capCache{}
		if old != nil {
			n.entries = append(n.entries, old.entries...)
		}
		if len(n.entries) >= capCacheEntries {
			n.entries = n.entries[1:]
		}
		n.entries = append(n.entries, e)
		if p.caps.CompareAndSwap(old, n) {
			return root
		}
	}
}

// capSlot is embedded in plan.
type capSlot = atomic.Pointer[capCache]
