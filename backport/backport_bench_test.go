package backport

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport/backporttest"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
)

// The benchmarks run on backporttest.NewBenchRequest (~1 KB: a dozen scalars, a
// nested message, 5 repeated sub-messages, a 5-entry map). At
// backporttest.BenchCapText three fields are newer than the cap: zone (top level),
// spec.note (nested) and tag in each of the 5 items.

var benchSink proto.Message

// naiveDowngrade is what one would write without the engine: deep clone,
// then clear the same fields through reflection.
func naiveDowngrade(in proto.Message, zone, note, tag, spec, items protoreflect.FieldDescriptor) proto.Message {
	out := proto.Clone(in)
	m := out.ProtoReflect()
	m.Clear(zone)
	m.Get(spec).Message().Clear(note)
	l := m.Get(items).List()
	for i := 0; i < l.Len(); i++ {
		l.Get(i).Message().Clear(tag)
	}
	return out
}

// handDowngrade is the same downgrade written in Go against the generated
// struct, copying only what changes: the floor any engine can reach.
func handDowngrade(in *svcpb.Volume) *svcpb.Volume {
	out := &svcpb.Volume{
		Name: in.Name, SizeGb: in.SizeGb, Thin: in.Thin, Owner: in.Owner, Project: in.Project,
		Priority: in.Priority, CreatedAt: in.CreatedAt, Ratio: in.Ratio, Score: in.Score, Checksum: in.Checksum,
		Delta: in.Delta, Flags: in.Flags, Readonly: in.Readonly, Kind: in.Kind, ByName: in.ByName,
		Colors: in.Colors, Palette: in.Palette, Label: in.Label, Tree: in.Tree, Source: in.Source,
		Legacy: in.Legacy, MountOptions: in.MountOptions, Tags: in.Tags, Quota: in.Quota, Attributes: in.Attributes,
	}
	if s := in.Spec; s != nil {
		out.Spec = &svcpb.Spec{
			SizeGb: s.SizeGb, Thin: s.Thin, Encryption: s.Encryption, Kind: s.Kind,
			DefaultEncryption: s.DefaultEncryption, Quota: s.Quota, Replicas: s.Replicas,
		}
	}
	if len(in.Items) > 0 {
		out.Items = make([]*svcpb.Item, len(in.Items))
		for i, it := range in.Items {
			out.Items[i] = &svcpb.Item{Name: it.Name, Count: it.Count, Color: it.Color, Spec: it.Spec, Weight: it.Weight}
		}
	}
	return out
}

func benchFields() (zone, note, tag, spec, items protoreflect.FieldDescriptor) {
	vf := (&svcpb.Volume{}).ProtoReflect().Descriptor().Fields()
	return vf.ByName("zone"), (&svcpb.Spec{}).ProtoReflect().Descriptor().Fields().ByName("note"),
		(&svcpb.Item{}).ProtoReflect().Descriptor().Fields().ByName("tag"), vf.ByName("spec"), vf.ByName("items")
}

// TestBenchVariantsAgree: the benchmarked variants do the same work.
func TestBenchVariantsAgree(t *testing.T) {
	req := backporttest.NewBenchRequest()
	if n := proto.Size(req); n < 900 || n > 1300 {
		t.Errorf("bench request is %d bytes, want about 1 KB", n)
	}
	cap := mustCap(t, backporttest.BenchCapText)
	var obs countingObserver
	got, err := DowngradeObserved(req, cap, &obs)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.dropped) != 7 || len(obs.enums) != 0 {
		t.Errorf("engine dropped %v and changed enums %v; want zone, spec.note and 5 item tags", obs.dropped, obs.enums)
	}
	zone, note, tag, spec, items := benchFields()
	if naive := naiveDowngrade(req, zone, note, tag, spec, items); !proto.Equal(got, naive) {
		t.Errorf("engine %v != naive %v", got, naive)
	}
	if hand := handDowngrade(req); !proto.Equal(got, hand) {
		t.Errorf("engine %v != hand-written %v", got, hand)
	}
	if out, err := Downgrade(req, mustCap(t, "rollpin.testpb.svc.v1=1.4,rollpin.testpb.types.v1=2.3")); err != nil || out != proto.Message(req) {
		t.Errorf("fast path: %v, %v", out, err)
	}
	fast := mustCap(t, backporttest.SvcTrack+"=1.4,"+backporttest.TypesTrack+"=2.3")
	if a := testing.AllocsPerRun(100, func() { benchSink, _ = Downgrade(req, fast) }); a != 0 {
		t.Errorf("fast path allocates %v times per call, want 0", a)
	}
	known := mustCap(t, backporttest.SvcTrack+"=1.4")
	if a := testing.AllocsPerRun(100, func() { _ = FillDefaults(req, known) }); a != 0 {
		t.Errorf("FillDefaults from a current sender allocates %v times per call, want 0", a)
	}
}

func mustCapNoT(s string) Manifest {
	m, err := ParseManifest(s)
	if err != nil {
		panic(err)
	}
	return m
}

func BenchmarkBackport(b *testing.B) {
	req := backporttest.NewBenchRequest()
	cap := mustCapNoT(backporttest.BenchCapText)
	fast := mustCapNoT(backporttest.SvcTrack + "=1.4," + backporttest.TypesTrack + "=2.3")
	// Warm the plan cache.
	if _, err := Downgrade(req, cap); err != nil {
		b.Fatal(err)
	}

	b.Run("FastPath", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := Downgrade(req, fast)
			if err != nil || out != proto.Message(req) {
				b.Fatal("fast path did not return the input")
			}
		}
	})
	b.Run("Downgrade", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := Downgrade(req, cap)
			if err != nil {
				b.Fatal(err)
			}
			benchSink = out
		}
	})
	b.Run("DowngradeNothingSet", func(b *testing.B) {
		// The same request and cap, with zone, spec.note and the item
		// tags unset: the walk of a request that sets nothing newer.
		old := proto.Clone(req).(*svcpb.Volume)
		old.Zone, old.Spec.Note = "", ""
		for _, it := range old.Items {
			it.Tag = ""
		}
		b.ReportAllocs()
		for b.Loop() {
			out, err := Downgrade(old, cap)
			if err != nil || out != proto.Message(old) {
				b.Fatal("a request with nothing newer was copied")
			}
		}
	})
	b.Run("Naive", func(b *testing.B) {
		zone, note, tag, spec, items := benchFields()
		b.ReportAllocs()
		for b.Loop() {
			benchSink = naiveDowngrade(req, zone, note, tag, spec, items)
		}
	})
	b.Run("HandWritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchSink = handDowngrade(req)
		}
	})
	b.Run("FillDefaults", func(b *testing.B) {
		// The request as a 1.2 sender sends it; every iteration fills
		// Volume.thin, Volume.quota, Spec.thin and Spec.default_encryption,
		// then the loop resets them by hand (a few stores).
		sender := mustCapNoT(backporttest.SvcTrack + "=1.2")
		old, err := Downgrade(req, sender)
		if err != nil {
			b.Fatal(err)
		}
		m := proto.Clone(old).(*svcpb.Volume)
		b.ReportAllocs()
		for b.Loop() {
			if err := FillDefaults(m, sender); err != nil {
				b.Fatal(err)
			}
			m.Thin, m.Quota, m.Spec.Thin, m.Spec.DefaultEncryption = false, nil, false, nil
		}
	})
	b.Run("FillDefaultsCurrentSender", func(b *testing.B) {
		sender := mustCapNoT(backporttest.SvcTrack + "=1.4," + backporttest.TypesTrack + "=2.3")
		b.ReportAllocs()
		for b.Loop() {
			if err := FillDefaults(req, sender); err != nil {
				b.Fatal(err)
			}
		}
	})
}
