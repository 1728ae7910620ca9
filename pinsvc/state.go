package pinsvc

import (
	"slices"
	"strings"
	"sync"
	"time"

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

	// proto is the ServiceState sent on streams, built once.
	proto *rollpinv1.ServiceState
}

// Proto returns the ServiceState of the view as sent on streams (its raise
// status computed when the view was built). The message is shared: callers
// must not modify it.
func (v *ServiceView) Proto() *rollpinv1.ServiceState { return v.proto }

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
	inst     *rollpinv1.Instance
	manifest backport.Manifest
}

// buildView computes the derived fields of a service and its proto.
func buildView(name string, pin *rollpinv1.Pin, pinMan backport.Manifest, pinRev int64, insts map[string]instanceOf, changedAt time.Time, raise RaiseFunc) *ServiceView {
	v := &ServiceView{
		Name:               name,
		Pin:                pin,
		PinManifest:        pinMan,
		PinRevision:        pinRev,
		InstancesChangedAt: changedAt,
	}
	ids := make([]string, 0, len(insts))
	for id := range insts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	v.Instances = make([]*rollpinv1.Instance, len(ids))
	v.Manifests = make([]backport.Manifest, len(ids))
	for i, id := range ids {
		v.Instances[i] = insts[id].inst
		v.Manifests[i] = insts[id].manifest
	}
	v.Floor = Floor(v.Manifests)
	v.EffectiveCap = backport.Min(pinMan, v.Floor)
	v.proto = v.newProto(raise, time.Now())
	return v
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
		Versions:     versionGroups(v.Instances, v.Manifests),
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
	p := v.proto
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

// versionGroups groups instances by manifest, oldest manifest first.
func versionGroups(insts []*rollpinv1.Instance, mans []backport.Manifest) []*rollpinv1.VersionGroup {
	type group struct {
		m   backport.Manifest
		ids []string
	}
	byText := map[string]*group{}
	var groups []*group
	for i, inst := range insts {
		key := inst.GetManifest() // canonical: applyKV stores mans[i].String()
		g := byText[key]
		if g == nil {
			g = &group{m: mans[i]}
			byText[key] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, inst.GetId()) // insts are sorted by id
	}
	slices.SortFunc(groups, func(a, b *group) int { return compareManifests(a.m, b.m) })
	out := make([]*rollpinv1.VersionGroup, len(groups))
	for i, g := range groups {
		out[i] = &rollpinv1.VersionGroup{Manifest: g.m.String(), InstanceIds: g.ids}
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
	newest := Max(v.Manifests)
	var blocking []string
	for i, m := range v.Manifests {
		if !m.Covers(newest) {
			blocking = append(blocking, v.Instances[i].GetId())
		}
	}
	if len(blocking) > 0 {
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
