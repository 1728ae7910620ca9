package backport_test

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// TestEngineInstances: an engine built with New has its own files, plans
// and hooks; building one changes nothing the default engine sees.
func TestEngineInstances(t *testing.T) {
	// A package whose declaration sits in a file the message's file does
	// not import: only an engine given the registry finds it.
	decl := file("eng/decl.proto", "eng.v1", fileOpts(t, "1.2", encUnknown), nil, nil)
	other := file("eng/m.proto", "eng.v1", nil, nil, []*descriptorpb.DescriptorProto{{
		Name: strPtr("M"),
		Field: []*descriptorpb.FieldDescriptorProto{
			field("x", 1, tString, nil),
			field("y", 2, tString, fieldOpts(t, customSince("1.2"), encUnknown)),
		},
	}})
	files := buildFiles(t, decl, other)
	md := findMessage(t, files, "eng.v1.M")
	m := newDynamic(md)
	m.Set(md.Fields().ByName("y"), protoreflect.ValueOfString("new"))
	cap := mustCap(t, "eng.v1=1.1")

	calls := 0
	e := backport.New(backport.WithFiles(files), backport.WithDowngrader("eng.v1.M", func(m protoreflect.Message, _ backport.Manifest) error {
		calls++
		fd := m.Descriptor().Fields().ByName("x")
		m.Set(fd, protoreflect.ValueOfString("folded"))
		return nil
	}))
	out, err := e.Downgrade(m, cap)
	if err != nil {
		t.Fatalf("engine Downgrade() error = %v", err)
	}
	got := out.ProtoReflect()
	if calls != 1 || got.Get(md.Fields().ByName("x")).String() != "folded" || got.Has(md.Fields().ByName("y")) {
		t.Errorf("engine Downgrade() = %v after %d hook calls; want x folded, y cleared, one call", out, calls)
	}
	// The default engine neither sees the files (to it the package is
	// unversioned, so a since in it is a schema error) nor the hook.
	if _, err := backport.Downgrade(m, cap); !errors.Is(err, backport.ErrSchema) {
		t.Errorf("default Downgrade() error = %v, want ErrSchema (package declaration out of reach)", err)
	}
	if calls != 1 {
		t.Errorf("the default engine called another engine's hook")
	}
	// A second engine on the same files has no hook.
	if _, err := backport.New(backport.WithFiles(files)).Downgrade(m, cap); err == nil {
		t.Errorf("engine without the hook downgraded a CUSTOM field")
	}
}

// TestManifestEntriesIsACopy: Entries hands out a copy, never the storage
// of an immutable Manifest; All iterates without copying.
func TestManifestEntriesIsACopy(t *testing.T) {
	m := mustCap(t, "a.v1=1.0,b.v1=2.0")
	es := m.Entries()
	es[0].Version = backport.Version{9, 9}
	if m.String() != "a.v1=1.0,b.v1=2.0" {
		t.Errorf("changing Entries() changed the manifest to %s", m)
	}
	var got []string
	for track, v := range m.All() {
		got = append(got, track+"="+v.String())
	}
	if len(got) != 2 || got[0] != "a.v1=1.0" || got[1] != "b.v1=2.0" {
		t.Errorf("All() = %v", got)
	}
	if a := testing.AllocsPerRun(100, func() {
		for range m.All() {
		}
	}); a != 0 {
		t.Errorf("All() allocates %v times", a)
	}
}

// TestEngineMethodSinceAndTracks: an engine's MethodSince and
// ReachableTracks find the package declaration through its files, which
// the package-level functions (and other engines) do not see.
func TestEngineMethodSinceAndTracks(t *testing.T) {
	decl := file("engm/decl.proto", "engm.v1", fileOpts(t, "1.3", encUnknown), nil, nil)
	svc := file("engm/svc.proto", "engm.v1", nil, nil, []*descriptorpb.DescriptorProto{{Name: strPtr("M")}})
	svc.Service = []*descriptorpb.ServiceDescriptorProto{{
		Name: strPtr("S"),
		Method: []*descriptorpb.MethodDescriptorProto{{
			Name: strPtr("New"), InputType: strPtr(".engm.v1.M"), OutputType: strPtr(".engm.v1.M"),
			Options: methodOpts(t, &rollpinv1.MethodOptions{Since: "1.2"}, encUnknown),
		}},
	}}
	files := buildFiles(t, decl, svc)
	d, err := files.FindDescriptorByName("engm.v1.S.New")
	if err != nil {
		t.Fatal(err)
	}
	md := d.(protoreflect.MethodDescriptor)
	e := backport.New(backport.WithFiles(files))
	since, track, ok, err := e.MethodSince(md)
	if err != nil || !ok || track != "engm.v1" || since != (backport.Version{Major: 1, Minor: 2}) {
		t.Errorf("engine MethodSince = %v, %q, %v, %v; want 1.2 on engm.v1", since, track, ok, err)
	}
	if got := e.ReachableTracks(md.Input()); len(got) != 1 || got[0] != "engm.v1" {
		t.Errorf("engine ReachableTracks = %v, want [engm.v1]", got)
	}
	if _, _, _, err := backport.MethodSince(md); !errors.Is(err, backport.ErrSchema) {
		t.Errorf("package-level MethodSince error = %v, want ErrSchema (declaration out of reach)", err)
	}
	if got := backport.ReachableTracks(md.Input()); len(got) != 0 {
		t.Errorf("package-level ReachableTracks = %v, want none", got)
	}
}
