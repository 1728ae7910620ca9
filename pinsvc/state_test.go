package pinsvc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// The watch keeps each service's instances in order and counts its distinct
// manifests as events arrive, instead of rebuilding them per event. After
// any sequence of registrations, re-registrations and departures, the view
// it gives must equal the one computed from scratch: the same instances in
// id order, floor, cap, version groups, blocking instances and size
// estimate.
func TestIncrementalViewMatchesRebuild(t *testing.T) {
	t.Parallel()
	manifests := []string{
		"acme.volume.v1=1.2", "acme.volume.v1=1.3", "acme.volume.v1=1.4",
		"acme.volume.v1=1.3,acme.billing.v1=2.0", "acme.billing.v1=2.1,acme.volume.v1=1.4",
	}
	pinMan := mustManifest(t, "acme.volume.v1=1.3")
	pin := &rollpinv1.Pin{Manifest: pinMan.String(), Mode: rollpinv1.PinMode_PIN_MODE_AUTO}
	now := time.Unix(1_700_000_000, 0)
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		d := newSvcData(now)
		d.pin, d.pinMan, d.pinRev = pin, pinMan, 3
		for step := range 400 {
			id := fmt.Sprintf("inst-%03d", rng.IntN(60))
			if rng.IntN(3) == 0 {
				d.remove(id)
			} else {
				m := mustManifest(t, manifests[rng.IntN(len(manifests))])
				in := &rollpinv1.Instance{Id: id, Manifest: m.String(), Address: "10.0.0.1:80"}
				d.put(id, instanceOf{inst: in, manifest: m, size: proto.Size(in)})
			}
			if step%37 != 0 {
				continue
			}
			got := d.view("acme.volume.v1.VolumeService", SettleRaiseStatus(time.Minute))
			want := rebuildView(d, SettleRaiseStatus(time.Minute))
			if diff := compareViews(got, want); diff != "" {
				t.Fatalf("seed %d step %d: incremental view differs from a rebuild: %s", seed, step, diff)
			}
		}
	}
}

// rebuildView computes the view of d the slow way: sort every instance, take
// the floor of every manifest, group and size every instance.
func rebuildView(d *svcData, raise RaiseFunc) *ServiceView {
	ids := make([]string, 0, len(d.insts))
	for id := range d.insts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	v := &ServiceView{Name: "acme.volume.v1.VolumeService", Pin: d.pin, PinManifest: d.pinMan, PinRevision: d.pinRev, InstancesChangedAt: d.changedAt, raise: raise}
	byText := map[string]*manifestGroup{}
	size := 128 + proto.Size(d.pin)
	for _, id := range ids {
		in := d.insts[id]
		v.Instances = append(v.Instances, in.inst)
		v.Manifests = append(v.Manifests, in.manifest)
		size += proto.Size(in.inst) + instanceOverhead
		g := byText[in.manifest.String()]
		if g == nil {
			g = &manifestGroup{text: in.manifest.String(), m: in.manifest}
			byText[g.text] = g
		}
		g.n++
	}
	for _, g := range byText {
		v.groups = append(v.groups, *g)
	}
	slices.SortFunc(v.groups, func(a, b manifestGroup) int { return compareManifests(a.m, b.m) })
	v.Floor = Floor(v.Manifests)
	v.EffectiveCap = backport.Min(d.pinMan, v.Floor)
	v.size = size
	return v
}

func compareViews(got, want *ServiceView) string {
	ids := func(v *ServiceView) string {
		var b strings.Builder
		for i, in := range v.Instances {
			fmt.Fprintf(&b, "%s:%s ", in.GetId(), v.Manifests[i])
		}
		return b.String()
	}
	switch {
	case ids(got) != ids(want):
		return fmt.Sprintf("instances\n got %s\nwant %s", ids(got), ids(want))
	case !got.Floor.Equal(want.Floor) || !got.EffectiveCap.Equal(want.EffectiveCap):
		return fmt.Sprintf("floor/cap %s/%s, want %s/%s", got.Floor, got.EffectiveCap, want.Floor, want.EffectiveCap)
	case got.size != want.size:
		return fmt.Sprintf("size estimate %d, want %d", got.size, want.size)
	}
	newest := Max(want.Manifests)
	var below []string
	for i, m := range want.Manifests {
		if !m.Covers(newest) {
			below = append(below, want.Instances[i].GetId())
		}
	}
	if g, w := got.instancesBelow(newest), below; !slices.Equal(g, w) {
		return fmt.Sprintf("instances below %s: %v, want %v", newest, g, w)
	}
	now := time.Unix(1_700_000_100, 0)
	g, w := got.newProto(got.raise, now), want.newProto(want.raise, now)
	if !proto.Equal(g, w) {
		return fmt.Sprintf("ServiceState\n got %v\nwant %v", g, w)
	}
	// A view built by hand from the exported fields alone (as a caller of
	// DecideRaise may) gives the same state.
	hand := &ServiceView{Name: want.Name, Pin: want.Pin, PinManifest: want.PinManifest, PinRevision: want.PinRevision,
		Instances: want.Instances, Manifests: want.Manifests, Floor: want.Floor, EffectiveCap: want.EffectiveCap,
		InstancesChangedAt: want.InstancesChangedAt}
	if h := hand.newProto(want.raise, now); !proto.Equal(h, w) {
		return fmt.Sprintf("ServiceState of a hand-built view\n got %v\nwant %v", h, w)
	}
	return ""
}
