package backport

import (
	"slices"
	"sync/atomic"
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
	fp *fieldPlan
	// drop: the field is newer than the cap (it is cleared, or rejected).
	drop bool
	// sub is the capPlan of the field's message type (its elements or
	// values for a list or map), whose subtree holds something newer.
	sub *capPlan
	// ecv is the cap's version of an enum field's track.
	ecv Version
	// single: a singular message field with sub (not a list or map).
	single bool
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
				cp.custom = append(cp.custom, capOp{fp: fp, drop: true})
			}
		}
		cp.dropUnknown = cp.cv.Less(p.version)
	}
	for _, fp := range p.dg {
		switch {
		case fp.hasSince && cp.capped && cp.cv.Less(fp.since):
			cp.ops = append(cp.ops, capOp{fp: fp, drop: true})
		case fp.msg != nil:
			if subtreeNeeds(fp.msg, cap) {
				cp.ops = append(cp.ops, capOp{fp: fp, sub: buildCapPlan(fp.msg, cap, memo), single: !fp.fd.IsList() && !fp.fd.IsMap()})
			}
		case fp.enum != nil:
			ep := fp.enum
			if ecv, ok := cap.Get(ep.track); ok && ep.hasMax && ecv.Less(ep.max) {
				cp.ops = append(cp.ops, capOp{fp: fp, ecv: ecv})
			}
		}
	}
	return cp
}

// subtreeNeeds reports whether Downgrade must visit p's subtree under cap:
// some track of it is capped below the highest since it holds, or below
// the binary's version of a track that messages of the subtree belong to
// (their unknown fields are dropped).
func subtreeNeeds(p *plan, cap Manifest) bool {
	for i := range p.th {
		t := &p.th[i]
		if cv, ok := cap.Get(t.track); ok && t.needs(cv) {
			return true
		}
	}
	return false
}

// needs reports whether a cap at cv on t's track requires a visit.
func (t *threshold) needs(cv Version) bool {
	return (t.hasMax && cv.Less(t.max)) || (t.hasMsg && cv.Less(t.schema))
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
