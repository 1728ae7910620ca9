package backport_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
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

// Engines of the benchmarks: the generated path (the default engine, which
// runs the code protoc-gen-go-rollpin generated for the test API) and the
// protoreflect path on the same messages.
var (
	generatedEngine = backport.Default()
	reflectEngine   = backport.New(backport.WithGeneratedCode(false), backport.WithDowngrader("rollpin.testpb.svc.v1.Volume", volumeDowngrader))
)

// TestBenchVariantsAgree: the benchmarked variants do the same work and
// give equal results.
func TestBenchVariantsAgree(t *testing.T) {
	req := backporttest.NewBenchRequest()
	if n := proto.Size(req); n < 900 || n > 1300 {
		t.Errorf("bench request is %d bytes, want about 1 KB", n)
	}
	md := req.ProtoReflect().Descriptor()
	if !backport.UsesGenerated(generatedEngine, md) || backport.UsesGenerated(reflectEngine, md) {
		t.Fatalf("generated code: default engine %v, protoreflect engine %v; want true, false",
			backport.UsesGenerated(generatedEngine, md), backport.UsesGenerated(reflectEngine, md))
	}
	cap := mustCap(t, backporttest.BenchCapText)
	var results []proto.Message
	for name, e := range map[string]*backport.Engine{"generated": generatedEngine, "reflect": reflectEngine} {
		var obs countingObserver
		got, err := e.DowngradeObserved(req, cap, &obs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(obs.dropped) != 7 || len(obs.enums) != 0 {
			t.Errorf("%s: dropped %v and changed enums %v; want zone, spec.note and 5 item tags", name, obs.dropped, obs.enums)
		}
		results = append(results, got)
	}
	zone, note, tag, spec, items := benchFields()
	results = append(results, naiveDowngrade(req, zone, note, tag, spec, items), handDowngrade(req))
	for i := 1; i < len(results); i++ {
		if !proto.Equal(results[0], results[i]) {
			t.Errorf("variant %d: %v != %v", i, results[i], results[0])
		}
	}
	fast := mustCap(t, backporttest.SvcTrack+"=1.4,"+backporttest.TypesTrack+"=2.3")
	for _, e := range []*backport.Engine{generatedEngine, reflectEngine} {
		if out, err := e.Downgrade(req, fast); err != nil || out != proto.Message(req) {
			t.Errorf("fast path: %v, %v", out, err)
		}
		if a := testing.AllocsPerRun(100, func() { benchSink, _ = e.Downgrade(req, fast) }); a != 0 {
			t.Errorf("fast path allocates %v times per call, want 0", a)
		}
		known := mustCap(t, backporttest.SvcTrack+"=1.4")
		if a := testing.AllocsPerRun(100, func() { _ = e.FillDefaults(req, known) }); a != 0 {
			t.Errorf("FillDefaults from a current sender allocates %v times per call, want 0", a)
		}
	}
	// Both fillers fill the same request the same way.
	sender := mustCap(t, backporttest.SvcTrack+"=1.2")
	old, err := backport.Downgrade(req, sender)
	if err != nil {
		t.Fatal(err)
	}
	a, b := proto.Clone(old), proto.Clone(old)
	if err := generatedEngine.FillDefaults(a, sender); err != nil {
		t.Fatal(err)
	}
	if err := reflectEngine.FillDefaults(b, sender); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(a, b) || proto.Equal(a, old) {
		t.Errorf("FillDefaults: generated %v, protoreflect %v, from %v", a, b, old)
	}
}

func mustCapNoT(s string) backport.Manifest {
	m, err := backport.ParseManifest(s)
	if err != nil {
		panic(err)
	}
	return m
}

func BenchmarkBackport(b *testing.B) {
	req := backporttest.NewBenchRequest()
	cap := mustCapNoT(backporttest.BenchCapText)
	fast := mustCapNoT(backporttest.SvcTrack + "=1.4," + backporttest.TypesTrack + "=2.3")
	// Warm the plan caches.
	for _, e := range []*backport.Engine{generatedEngine, reflectEngine} {
		if _, err := e.Downgrade(req, cap); err != nil {
			b.Fatal(err)
		}
	}
	downgrade := func(e *backport.Engine) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := e.Downgrade(req, cap)
				if err != nil {
					b.Fatal(err)
				}
				benchSink = out
			}
		}
	}
	b.Run("HandWritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchSink = handDowngrade(req)
		}
	})
	b.Run("Naive", func(b *testing.B) {
		zone, note, tag, spec, items := benchFields()
		b.ReportAllocs()
		for b.Loop() {
			benchSink = naiveDowngrade(req, zone, note, tag, spec, items)
		}
	})
	b.Run("Generated", downgrade(generatedEngine))
	b.Run("Reflect", downgrade(reflectEngine))
	b.Run("FastPath", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := backport.Downgrade(req, fast)
			if err != nil || out != proto.Message(req) {
				b.Fatal("fast path did not return the input")
			}
		}
	})
	// The request as a 1.2 sender sends it; every iteration fills
	// Volume.thin, Volume.quota, Spec.thin and Spec.default_encryption,
	// then the loop resets them by hand (a few stores).
	fill := func(e *backport.Engine) func(b *testing.B) {
		return func(b *testing.B) {
			sender := mustCapNoT(backporttest.SvcTrack + "=1.2")
			old, err := backport.Downgrade(req, sender)
			if err != nil {
				b.Fatal(err)
			}
			m := proto.Clone(old).(*svcpb.Volume)
			b.ReportAllocs()
			for b.Loop() {
				if err := e.FillDefaults(m, sender); err != nil {
					b.Fatal(err)
				}
				m.Thin, m.Quota, m.Spec.Thin, m.Spec.DefaultEncryption = false, nil, false, nil
			}
		}
	}
	b.Run("FillDefaultsGenerated", fill(generatedEngine))
	b.Run("FillDefaultsReflect", fill(reflectEngine))
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
			out, err := backport.Downgrade(old, cap)
			if err != nil || out != proto.Message(old) {
				b.Fatal("a request with nothing newer was copied")
			}
		}
	})
}
