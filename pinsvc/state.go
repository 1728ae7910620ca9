package pinsvc

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// State is an immutable snapshot of everything a Server knows: every service
// with a pin or live instances, as of one etcd revision. Callers must not
// modify it or anything reachable from it.
type State struct {
	// Revision is the etcd revision the snapshot reflects.
	Revision int64
	// Services maps a full service name to its view.
	Services map[string]*ServiceView

	snapOnce sync.Once
	snap     *outMsg
}

// Service returns the view of name, or nil when the service has neither a
// pin nor live instances.
func (st *State) Service(name string) *ServiceView {
	if st == nil {
		return nil
	}
	return st.Services[name]
}

// Names returns the service names, sorted.
func (st *State) Names() []string {
	if st == nil {
		return nil
	}
	names := make([]string, 0, len(st.Services))
	for n := range st.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ServiceView is the immutable state of one service. Callers must not
// modify it or the messages it points to.
type ServiceView struct {
	// Name is the full gRPC service name.
	Name string
	// Pin is the stored pin, nil when the service has none.
	Pin *rollpinv1.Pin
	// PinManifest is Pin.Manifest parsed (empty without a pin).
	PinManifest backport.Manifest
	// PinRevision is the etcd mod revision of the pin key, 0 without a pin.
	PinRevision int64
	// Instances are the live instances, sorted by id.
	Instances []*rollpinv1.Instance
	// Manifests holds the parsed manifest of Instances[i] at index i.
	Manifests []backport.Manifest
	// Floor is Floor(Manifests); empty without instances.
	Floor backport.Manifest
	// EffectiveCap is Min(PinManifest, Floor): what senders cap at.
	EffectiveCap backport.Manifest
	// InstancesChangedAt is when this Server last saw the set of live
	// instances (ids and manifests) change; for services found at start-up,
	// the time the Server loaded them.
	InstancesChangedAt time.Time

	// groups are the distinct manifests of Instances, oldest first.
	groups []manifestGroup
	// size estimates the encoded size of the view's ServiceState (the
	// history's byte budget counts it).
	size int

	// proto is the ServiceState sent on streams, built on first use (a
	// Register stream never needs it: see outMsg.registerMsg).
	protoOnce sync.Once
	proto     *rollpinv1.ServiceState
	raise     RaiseFunc
}

// manifestGroup is one distinct manifest among a service's instances.
type manifestGroup struct {
	text string // canonical manifest text
	m    backport.Manifest
	n    int // instances running it
}

// Proto returns the ServiceState of the view as sent on streams, its raise
// status computed on the first call. The message is shared: callers must not
// modify it.
func (v *ServiceView) Proto() *rollpinv1.ServiceState {
	v.protoOnce.Do(func() {
		if v.proto == nil {
			v.proto = v.newProto(v.raise, time.Now())
		}
	})
	return v.proto
}

// distinct returns the distinct manifests of the instances (each once,
// oldest first): what the floor, the newest manifest and every per-version
// decision depend on, without a pass over thousands of instances.
func (v *ServiceView) distinct() []backport.Manifest {
	groups := v.manifestGroups()
	out := make([]backport.Manifest, len(groups))
	for i, g := range groups {
		out[i] = g.m
	}
	return out
}

// manifestGroups returns v.groups, or computes them for a view built by hand
// (DecideRaise and RaiseFunc take any view).
func (v *ServiceView) manifestGroups() []manifestGroup {
	if v.groups != nil || len(v.Instances) == 0 {
		return v.groups
	}
	groups := map[string]*manifestGroup{}
	for _, m := range v.Manifests {
		text := m.String()
		g := groups[text]
		if g == nil {
			g = &manifestGroup{text: text, m: m}
			groups[text] = g
		}
		g.n++
	}
	return sortedGroups(groups)
}

// manifestText returns the canonical text of instance i's manifest.
func (v *ServiceView) manifestText(i int) string {
	if v.groups != nil {
		return v.Instances[i].GetManifest() // canonical: see svcData.put
	}
	return v.Manifests[i].String()
}

// sortedGroups returns the groups, oldest manifest first.
func sortedGroups(groups map[string]*manifestGroup) []manifestGroup {
	out := make([]manifestGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b manifestGroup) int {
		if c := compareManifests(a.m, b.m); c != 0 {
			return c
		}
		return strings.Compare(a.text, b.text)
	})
	return out
}

// instancesBelow returns, in id order, the ids of the instances whose
// manifest does not cover m (below it on a track they share).
func (v *ServiceView) instancesBelow(m backport.Manifest) []string {
	var below map[string]bool
	for _, g := range v.manifestGroups() {
		if !g.m.Covers(m) {
			if below == nil {
				below = map[string]bool{}
			}
			below[g.text] = true
		}
	}
	if below == nil {
		return nil
	}
	var ids []string
	for i, in := range v.Instances {
		if below[v.manifestText(i)] {
			ids = append(ids, in.GetId())
		}
	}
	return ids
}

// Floor returns the elementwise minimum of manifests. A track present in
// every manifest takes the minimum of its versions. A track present in only
// some manifests takes the minimum over the manifests that have it: an
// instance whose binary does not link a track does not speak it, so it puts
// no cap on it. Floor of no manifests is the empty manifest.
func Floor(manifests []backport.Manifest) backport.Manifest {
	if len(manifests) == 0 {
		return backport.Manifest{}
	}
	out := manifests[0]
	for _, m := range manifests[1:] {
		out = backport.Min(out, m)
	}
	return out
}

// Max returns the elementwise maximum of manifests (every track of any of
// them, at its highest version).
func Max(manifests []backport.Manifest) backport.Manifest {
	best := map[string]backport.Version{}
	for _, m := range manifests {
		for _, e := range m.Entries() {
			if v, ok := best[e.Track]; !ok || v.Less(e.Version) {
				best[e.Track] = e.Version
			}
		}
	}
	es := make([]backport.Entry, 0, len(best))
	for t, v := range best {
		es = append(es, backport.Entry{Track: t, Version: v})
	}
	m, _ := backport.NewManifest(es...) // tracks come from valid manifests
	return m
}

// compareManifests is a total order on manifests that agrees with the
// elementwise order where manifests are comparable: over the union of their
// tracks in name order, the first track where they differ decides, and an
// absent track sorts before a present one.
func compareManifests(a, b backport.Manifest) int {
	ea, eb := a.Entries(), b.Entries()
	i, j := 0, 0
	for i < len(ea) && j < len(eb) {
		switch c := strings.Compare(ea[i].Track, eb[j].Track); {
		case c < 0:
			return 1 // a has a track b lacks
		case c > 0:
			return -1
		default:
			if c := ea[i].Version.Compare(eb[j].Version); c != 0 {
				return c
			}
			i++
			j++
		}
	}
	switch {
	case i < len(ea):
		return 1
	case j < len(eb):
		return -1
	}
	return 0
}

// instanceOf is one live registration as the watch saw it.
type instanceOf struct {
	inst     *rollpinv1.Instance // its Manifest is the canonical text
	manifest backport.Manifest
	size     int // estimated encoded size of inst
}

// instanceOverhead estimates the bytes an instance adds to a ServiceState
// besides its own encoding: field tags and lengths, and its id in a version
// group.
const instanceOverhead = 8

// svcData is the mutable state of one service, owned by the watch goroutine.
// It keeps what every view needs incrementally (instances in id order, the
// count of each distinct manifest, the estimated size), so a change of one
// instance costs a copy of the instance list, not a sort, a floor over every
// manifest and an encoding of every instance.
type svcData struct {
	pin       *rollpinv1.Pin
	pinMan    backport.Manifest
	pinRev    int64
	insts     map[string]instanceOf
	changedAt time.Time

	sorted  []instanceOf // insts by id; valid when ordered
	ordered bool
	groups  map[string]*manifestGroup // by canonical manifest text
	size    int                       // sum of the instances' size + instanceOverhead
}

func newSvcData(now time.Time) *svcData {
	return &svcData{insts: map[string]instanceOf{}, groups: map[string]*manifestGroup{}, changedAt: now}
}

// put adds or replaces the instance id.
func (d *svcData) put(id string, in instanceOf) {
	old, had := d.insts[id]
	if had {
		d.uncount(old)
	}
	d.insts[id] = in
	d.count(in)
	if !d.ordered {
		return
	}
	i, found := slices.BinarySearchFunc(d.sorted, id, cmpInstanceID)
	if found {
		d.sorted[i] = in
	} else {
		d.sorted = slices.Insert(d.sorted, i, in)
	}
}

// remove deletes the instance id and reports whether it was there.
func (d *svcData) remove(id string) bool {
	old, had := d.insts[id]
	if !had {
		return false
	}
	delete(d.insts, id)
	d.uncount(old)
	if d.ordered {
		if i, found := slices.BinarySearchFunc(d.sorted, id, cmpInstanceID); found {
			d.sorted = slices.Delete(d.sorted, i, i+1)
		}
	}
	return true
}

func cmpInstanceID(x instanceOf, id string) int { return strings.Compare(x.inst.GetId(), id) }

func (d *svcData) count(in instanceOf) {
	text := in.inst.GetManifest()
	g := d.groups[text]
	if g == nil {
		g = &manifestGroup{text: text, m: in.manifest}
		d.groups[text] = g
	}
	g.n++
	d.size += in.size + instanceOverhead
}

func (d *svcData) uncount(in instanceOf) {
	text := in.inst.GetManifest()
	if g := d.groups[text]; g != nil {
		if g.n--; g.n == 0 {
			delete(d.groups, text)
		}
	}
	d.size -= in.size + instanceOverhead
}

// view returns the immutable view of the service now. Its proto (version
// groups, raise status) is built when a stream or an RPC first needs it.
func (d *svcData) view(name string, raise RaiseFunc) *ServiceView {
	if !d.ordered {
		d.sorted = slices.SortedFunc(maps.Values(d.insts), func(a, b instanceOf) int {
			return strings.Compare(a.inst.GetId(), b.inst.GetId())
		})
		d.ordered = true
	}
	v := &ServiceView{
		Name:               name,
		Pin:                d.pin,
		PinManifest:        d.pinMan,
		PinRevision:        d.pinRev,
		InstancesChangedAt: d.changedAt,
		Instances:          make([]*rollpinv1.Instance, len(d.sorted)),
		Manifests:          make([]backport.Manifest, len(d.sorted)),
		size:               d.size + 128 + proto.Size(d.pin),
		raise:              raise,
	}
	for i, in := range d.sorted {
		v.Instances[i] = in.inst
		v.Manifests[i] = in.manifest
	}
	v.groups = sortedGroups(d.groups)
	v.Floor = Floor(v.distinct())
	v.EffectiveCap = backport.Min(d.pinMan, v.Floor)
	return v
}

// buildView computes the view of a service from its pin and instances.
func buildView(name string, pin *rollpinv1.Pin, pinMan backport.Manifest, pinRev int64, insts map[string]instanceOf, changedAt time.Time, raise RaiseFunc) *ServiceView {
	d := newSvcData(changedAt)
	d.pin, d.pinMan, d.pinRev = pin, pinMan, pinRev
	for id, in := range insts {
		d.put(id, in)
	}
	return d.view(name, raise)
}

// newProto builds the ServiceState of v with a raise status computed now.
func (v *ServiceView) newProto(raise RaiseFunc, now time.Time) *rollpinv1.ServiceState {
	ss := &rollpinv1.ServiceState{
		Service:      v.Name,
		Pin:          v.Pin,
		PinRevision:  v.PinRevision,
		Floor:        v.Floor.String(),
		EffectiveCap: v.EffectiveCap.String(),
		Instances:    v.Instances,
		Versions:     v.versionGroups(),
	}
	if raise == nil {
		raise = DefaultRaiseStatus
	}
	ss.Raise = raise(v, now)
	return ss
}

// withRaise returns a shallow copy of the view's proto with a fresh raise
// status.
func (v *ServiceView) withRaise(raise RaiseFunc, now time.Time) *rollpinv1.ServiceState {
	p := v.Proto()
	if raise == nil {
		raise = DefaultRaiseStatus
	}
	return &rollpinv1.ServiceState{
		Service:      p.Service,
		Pin:          p.Pin,
		PinRevision:  p.PinRevision,
		Floor:        p.Floor,
		EffectiveCap: p.EffectiveCap,
		Instances:    p.Instances,
		Versions:     p.Versions,
		Raise:        raise(v, now),
	}
}

// versionGroups groups the instances by manifest, oldest manifest first,
// each group's ids in id order.
func (v *ServiceView) versionGroups() []*rollpinv1.VersionGroup {
	groups := v.manifestGroups()
	out := make([]*rollpinv1.VersionGroup, len(groups))
	at := make(map[string]int, len(groups))
	for i, g := range groups {
		out[i] = &rollpinv1.VersionGroup{Manifest: g.text, InstanceIds: make([]string, 0, g.n)}
		at[g.text] = i
	}
	for i, in := range v.Instances { // sorted by id
		g := out[at[v.manifestText(i)]]
		g.InstanceIds = append(g.InstanceIds, in.GetId())
	}
	return out
}

// RaiseFunc explains the automatic raise of a service as of now. It must be
// safe for concurrent use and must not modify v.
type RaiseFunc func(v *ServiceView, now time.Time) *rollpinv1.RaiseStatus

// DefaultRaiseStatus is the RaiseFunc used when no controller supplies one.
// It derives the status from pin, floor, mode and hold alone: no instances
// → NO_INSTANCES; a hold → HELD; the floor above the pin → MANUAL or
// SETTLING (without a settle time); live instances below the newest
// manifest → BLOCKED naming them; otherwise UP_TO_DATE.
func DefaultRaiseStatus(v *ServiceView, now time.Time) *rollpinv1.RaiseStatus {
	switch {
	case len(v.Instances) == 0:
		return &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_NO_INSTANCES, Reason: "no live instances"}
	case v.Pin.GetHold() != nil:
		h := v.Pin.GetHold()
		return &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_HELD, Reason: "held by " + h.GetBy() + ": " + h.GetReason()}
	}
	if v.Pin == nil {
		return &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_SETTLING, Reason: "no pin yet: the controller creates it at the floor " + v.Floor.String()}
	}
	if up := v.Floor.NewerThan(v.PinManifest); len(up) > 0 {
		if v.Pin.GetMode() == rollpinv1.PinMode_PIN_MODE_MANUAL {
			return &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_MANUAL, Reason: "floor " + v.Floor.String() + " is above the pin; the pin is MANUAL: raise it with pindctl pin set"}
		}
		return &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_SETTLING, Reason: "floor " + v.Floor.String() + " is above the pin " + v.PinManifest.String() + "; waiting for the settle window"}
	}
	newest := Max(v.distinct())
	if blocking := v.instancesBelow(newest); len(blocking) > 0 {
		return &rollpinv1.RaiseStatus{
			State:             rollpinv1.RaiseState_RAISE_STATE_BLOCKED,
			Reason:            "live instances run versions below " + newest.String(),
			BlockingInstances: blocking,
		}
	}
	return &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_UP_TO_DATE, Reason: "pin is at the floor"}
}

// ts returns t as a Timestamp.
func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
