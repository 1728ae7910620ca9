package backport_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

const (
	tString = descriptorpb.FieldDescriptorProto_TYPE_STRING
	tInt64  = descriptorpb.FieldDescriptorProto_TYPE_INT64
	tBool   = descriptorpb.FieldDescriptorProto_TYPE_BOOL
)

// TestOptionResolvers reads every option kind encoded in every way a
// descriptor can carry it.
func TestOptionResolvers(t *testing.T) {
	for _, enc := range []optEncoding{encGenerated, encDynamic, encUnknown} {
		t.Run(enc.String(), func(t *testing.T) {
			f := file("a.proto", "opt.test.v1", fileOpts(t, "1.4", enc), nil,
				[]*descriptorpb.DescriptorProto{{
					Name: proto.String("M"),
					Field: []*descriptorpb.FieldDescriptorProto{
						field("plain", 1, tString, nil),
						field("newer", 2, tString, fieldOpts(t, &rollpinv1.FieldOptions{
							Since: "1.3", OnDowngrade: rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT, Default: "x"}, enc)),
					},
				}},
				&descriptorpb.EnumDescriptorProto{
					Name: proto.String("E"),
					Value: []*descriptorpb.EnumValueDescriptorProto{
						{Name: proto.String("E_UNSPECIFIED"), Number: proto.Int32(0)},
						{Name: proto.String("E_NEW"), Number: proto.Int32(1),
							Options: enumValueOpts(t, &rollpinv1.EnumValueOptions{Since: "1.2", DowngradeTo: "E_UNSPECIFIED"}, enc)},
					},
				})
			f.Service = []*descriptorpb.ServiceDescriptorProto{{
				Name: proto.String("S"),
				Method: []*descriptorpb.MethodDescriptorProto{{
					Name: proto.String("Call"), InputType: proto.String(".opt.test.v1.M"), OutputType: proto.String(".opt.test.v1.M"),
					Options: methodOpts(t, &rollpinv1.MethodOptions{Since: "1.1"}, enc),
				}},
			}}
			files := buildFiles(t, f)
			fd, _ := files.FindFileByPath("a.proto")
			if o, ok := backport.FileAPIOptions(fd); !ok || o.GetVersion() != "1.4" {
				t.Errorf("FileAPIOptions = %v, %v; want version 1.4", o, ok)
			}
			md := findMessage(t, files, "opt.test.v1.M")
			if o, ok := backport.FieldOptions(md.Fields().ByName("plain")); ok {
				t.Errorf("FieldOptions(plain) = %v, true; want absent", o)
			}
			o, ok := backport.FieldOptions(md.Fields().ByName("newer"))
			if !ok || o.GetSince() != "1.3" || o.GetOnDowngrade() != rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT || o.GetDefault() != "x" {
				t.Errorf("FieldOptions(newer) = %v, %v", o, ok)
			}
			ev := fd.Enums().ByName("E").Values().ByName("E_NEW")
			if o, ok := backport.EnumValueOptions(ev); !ok || o.GetSince() != "1.2" || o.GetDowngradeTo() != "E_UNSPECIFIED" {
				t.Errorf("EnumValueOptions = %v, %v", o, ok)
			}
			method := fd.Services().ByName("S").Methods().ByName("Call")
			if o, ok := backport.MethodOptions(method); !ok || o.GetSince() != "1.1" {
				t.Errorf("MethodOptions = %v, %v", o, ok)
			}
			since, track, ok, err := backport.MethodSince(method)
			if err != nil || !ok || track != "opt.test.v1" || since != (backport.Version{1, 1}) {
				t.Errorf("MethodSince = %v, %q, %v, %v; want 1.1, opt.test.v1, true, nil", since, track, ok, err)
			}
			if err := backport.CheckMessage(md); err != nil {
				t.Errorf("CheckMessage = %v, want nil", err)
			}
		})
	}
}

// TestTrackOfDeclarationInAnotherFile: a package declares its version in
// one file; messages of its other files belong to the track too.
func TestTrackOfDeclarationInAnotherFile(t *testing.T) {
	decl := file("pkg/decl.proto", "split.v1", fileOpts(t, "2.1", encUnknown), nil, nil)
	other := file("pkg/other.proto", "split.v1", nil, nil, []*descriptorpb.DescriptorProto{{Name: proto.String("M")}})
	unrelated := file("pkg/plain.proto", "plain.v1", nil, nil, []*descriptorpb.DescriptorProto{{Name: proto.String("P")}})
	files := buildFiles(t, decl, other, unrelated)
	md := findMessage(t, files, "split.v1.M")

	track, v, ok, err := backport.TrackOfIn(files, md)
	if err != nil || !ok || track != "split.v1" || v != (backport.Version{2, 1}) {
		t.Errorf("TrackOfIn = %q, %v, %v, %v; want split.v1, 2.1, true, nil", track, v, ok, err)
	}
	// Without the registry the declaring file is out of reach...
	if _, _, ok, err := backport.TrackOf(md); ok || err != nil {
		t.Errorf("TrackOf without the registry = ok %v, err %v; want unversioned", ok, err)
	}
	// ...and an engine built on the registry finds it, without changing
	// what the default engine sees.
	if err := backport.New(backport.WithFiles(files)).CheckMessage(md); err != nil {
		t.Errorf("CheckMessage on an engine with the files = %v", err)
	}
	if _, _, ok, _ := backport.TrackOf(md); ok {
		t.Errorf("TrackOf after New(WithFiles) = versioned; engines must not register files globally")
	}
	if _, _, ok, err := backport.TrackOfIn(files, findMessage(t, files, "plain.v1.P")); ok || err != nil {
		t.Errorf("TrackOfIn(plain) = ok %v, err %v; want unversioned, nil", ok, err)
	}
	m, err := backport.ManifestOfFiles(files)
	if err != nil || m.String() != "split.v1=2.1" {
		t.Errorf("ManifestOfFiles = %q, %v; want split.v1=2.1", m, err)
	}
}

// TestTrackOfImportedDeclaration: the declaration is found through imports
// without any registry.
func TestTrackOfImportedDeclaration(t *testing.T) {
	decl := file("imp/decl.proto", "imp.v1", fileOpts(t, "1.7", encDynamic), nil, nil)
	other := file("imp/other.proto", "imp.v1", nil, []string{"imp/decl.proto"}, []*descriptorpb.DescriptorProto{{Name: proto.String("M")}})
	files := buildFiles(t, decl, other)
	if track, v, ok, err := backport.TrackOf(findMessage(t, files, "imp.v1.M")); err != nil || !ok || track != "imp.v1" || v != (backport.Version{1, 7}) {
		t.Errorf("TrackOf = %q, %v, %v, %v; want imp.v1 1.7", track, v, ok, err)
	}
}

func TestManifestOfFilesConflicts(t *testing.T) {
	files := buildFiles(t,
		file("c/a.proto", "conf.v1", fileOpts(t, "1.2", encGenerated), nil, []*descriptorpb.DescriptorProto{{Name: proto.String("M")}}),
		file("c/b.proto", "conf.v1", fileOpts(t, "1.3", encGenerated), nil, nil),
		file("c/c.proto", "bad.v1", fileOpts(t, "one.two", encGenerated), nil, nil),
		file("c/d.proto", "good.v1", fileOpts(t, "3.0", encGenerated), nil, nil),
		file("c/e.proto", "good.v1", fileOpts(t, "3.0", encUnknown), nil, nil),
	)
	m, err := backport.ManifestOfFiles(files)
	if m.String() != "good.v1=3.0" {
		t.Errorf("ManifestOfFiles manifest = %q, want good.v1=3.0", m)
	}
	if !errors.Is(err, backport.ErrSchema) {
		t.Fatalf("ManifestOfFiles err = %v, want ErrSchema", err)
	}
	for _, want := range []string{"c/a.proto", "c/b.proto", "1.2", "1.3", "c/c.proto", `"one.two"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ManifestOfFiles err = %q, want it to mention %s", err, want)
		}
	}
	if got := backport.ManifestOf(files); !got.Equal(m) {
		t.Errorf("ManifestOf = %q, want %q", got, m)
	}
	_, _, ok, err := backport.TrackOfIn(files, findMessage(t, files, "conf.v1.M"))
	if ok || !errors.Is(err, backport.ErrSchema) {
		t.Errorf("TrackOfIn(conflicting) = ok %v, err %v; want an ErrSchema", ok, err)
	}
}

func TestReachableTracksCycles(t *testing.T) {
	types := file("r/types.proto", "rt.types.v1", fileOpts(t, "2.0", encGenerated), nil,
		[]*descriptorpb.DescriptorProto{{Name: proto.String("T")}},
		&descriptorpb.EnumDescriptorProto{Name: proto.String("Color"), Value: []*descriptorpb.EnumValueDescriptorProto{{Name: proto.String("COLOR_UNSPECIFIED"), Number: proto.Int32(0)}}})
	enums := file("r/enums.proto", "rt.enums.v1", fileOpts(t, "1.0", encGenerated), nil, nil,
		&descriptorpb.EnumDescriptorProto{Name: proto.String("Kind"), Value: []*descriptorpb.EnumValueDescriptorProto{{Name: proto.String("KIND_UNSPECIFIED"), Number: proto.Int32(0)}}})
	plain := file("r/plain.proto", "rt.plain.v1", nil, []string{"r/svc.proto"}, []*descriptorpb.DescriptorProto{{
		Name:  proto.String("Wrap"),
		Field: []*descriptorpb.FieldDescriptorProto{msgField("back", 1, ".rt.svc.v1.Node", nil)},
	}})
	svc := file("r/svc.proto", "rt.svc.v1", fileOpts(t, "1.4", encGenerated), []string{"r/types.proto", "r/enums.proto"},
		[]*descriptorpb.DescriptorProto{{
			Name: proto.String("Node"),
			Field: []*descriptorpb.FieldDescriptorProto{
				msgField("next", 1, ".rt.svc.v1.Node", nil),
				msgField("t", 2, ".rt.types.v1.T", nil),
				enumField("kind", 3, ".rt.enums.v1.Kind", nil),
			},
		}})
	files := buildFiles(t, types, enums, svc, plain)
	got := backport.ReachableTracks(findMessage(t, files, "rt.plain.v1.Wrap"))
	want := []string{"rt.enums.v1", "rt.svc.v1", "rt.types.v1"}
	if !slices.Equal(got, want) {
		t.Errorf("ReachableTracks(Wrap) = %v, want %v", got, want)
	}
	if got := backport.ReachableTracks(findMessage(t, files, "rt.types.v1.T")); !slices.Equal(got, []string{"rt.types.v1"}) {
		t.Errorf("ReachableTracks(T) = %v", got)
	}
	md := findMessage(t, files, "rt.svc.v1.Node")
	if err := backport.CheckMessage(md); err != nil {
		t.Errorf("CheckMessage(Node) = %v", err)
	}
	var _ protoreflect.MessageDescriptor = md
}

// TestCheckMessageInvalid compiles deliberately invalid annotations: every
// error names its element, nothing panics, and Downgrade refuses the type.
func TestCheckMessageInvalid(t *testing.T) {
	fo := func(o *rollpinv1.FieldOptions) *descriptorpb.FieldOptions { return fieldOpts(t, o, encGenerated) }
	eo := func(o *rollpinv1.EnumValueOptions) *descriptorpb.EnumValueOptions {
		return enumValueOpts(t, o, encUnknown)
	}
	bad := file("bad/bad.proto", "bad.v1", fileOpts(t, "1.4", encGenerated), nil,
		[]*descriptorpb.DescriptorProto{{
			Name: proto.String("Bad"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("ok", 1, tString, fo(&rollpinv1.FieldOptions{Since: "1.2"})),
				field("bad_text", 2, tString, fo(&rollpinv1.FieldOptions{Since: "1.x"})),
				field("too_new", 3, tString, fo(&rollpinv1.FieldOptions{Since: "1.5"})),
				field("bad_bool", 4, tBool, fo(&rollpinv1.FieldOptions{Since: "1.3", Default: "yes"})),
				field("bad_int", 5, tInt64, fo(&rollpinv1.FieldOptions{Since: "1.3", Default: "12x"})),
				enumField("bad_enum", 6, ".bad.v1.Color", fo(&rollpinv1.FieldOptions{Since: "1.3", Default: "PURPLE"})),
				msgField("bad_msg", 7, ".bad.v1.Inner", fo(&rollpinv1.FieldOptions{Since: "1.3", Default: "nope: 1"})),
				field("no_since", 8, tString, fo(&rollpinv1.FieldOptions{Default: "x"})),
				field("bad_action", 9, tString, fo(&rollpinv1.FieldOptions{Since: "1.1", OnDowngrade: 7})),
				msgField("inner", 10, ".bad.v1.Inner", nil),
			},
		}, {
			Name:  proto.String("Inner"),
			Field: []*descriptorpb.FieldDescriptorProto{field("deep", 1, tString, fo(&rollpinv1.FieldOptions{Since: "2.0"}))},
		}},
		&descriptorpb.EnumDescriptorProto{
			Name: proto.String("Color"),
			Value: []*descriptorpb.EnumValueDescriptorProto{
				{Name: proto.String("COLOR_UNSPECIFIED"), Number: proto.Int32(0)},
				{Name: proto.String("COLOR_RED"), Number: proto.Int32(1), Options: eo(&rollpinv1.EnumValueOptions{Since: "1.3", DowngradeTo: "COLOR_MAUVE"})},
				{Name: proto.String("COLOR_BLUE"), Number: proto.Int32(2), Options: eo(&rollpinv1.EnumValueOptions{Since: "1.2", DowngradeTo: "COLOR_RED"})},
				{Name: proto.String("COLOR_SELF"), Number: proto.Int32(3), Options: eo(&rollpinv1.EnumValueOptions{Since: "1.2", DowngradeTo: "COLOR_SELF"})},
				{Name: proto.String("COLOR_WHAT"), Number: proto.Int32(4), Options: eo(&rollpinv1.EnumValueOptions{Since: "v1"})},
			},
		})
	unversioned := file("bad/plain.proto", "plain.bad.v1", nil, nil, []*descriptorpb.DescriptorProto{{
		Name:  proto.String("P"),
		Field: []*descriptorpb.FieldDescriptorProto{field("x", 1, tString, fo(&rollpinv1.FieldOptions{Since: "1.0"}))},
	}})
	files := buildFiles(t, bad, unversioned)

	err := backport.CheckMessage(findMessage(t, files, "bad.v1.Bad"))
	if !errors.Is(err, backport.ErrSchema) {
		t.Fatalf("CheckMessage(Bad) = %v, want ErrSchema", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"bad.v1.Bad.bad_text", `"1.x"`,
		"bad.v1.Bad.too_new", "above the package version 1.4",
		"bad.v1.Bad.bad_bool", "bad.v1.Bad.bad_int", "bad.v1.Bad.bad_enum", "PURPLE",
		"bad.v1.Bad.bad_msg", "bad.v1.Bad.no_since", "bad.v1.Bad.bad_action",
		"bad.v1.Inner.deep",
		"bad.v1.COLOR_RED", "COLOR_MAUVE",
		"bad.v1.COLOR_BLUE", "not before",
		"bad.v1.COLOR_SELF", "bad.v1.COLOR_WHAT",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("CheckMessage(Bad) error does not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "bad.v1.Bad.ok") {
		t.Errorf("CheckMessage(Bad) reports the valid field ok:\n%s", msg)
	}
	if err := backport.CheckMessage(findMessage(t, files, "plain.bad.v1.P")); err == nil || !strings.Contains(err.Error(), "plain.bad.v1.P.x") {
		t.Errorf("CheckMessage(P) = %v, want an error naming plain.bad.v1.P.x", err)
	}
}
