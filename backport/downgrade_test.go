package backport_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/backport/backporttest"
	"github.com/rollpin/rollpin/backport/backporttest/plainpb"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
	"github.com/rollpin/rollpin/backport/backporttest/typespb"
)

const (
	svcCap13   = "rollpin.testpb.svc.v1=1.3"
	svcCap12   = "rollpin.testpb.svc.v1=1.2"
	typesCap21 = "rollpin.testpb.types.v1=2.1"
	typesCap22 = "rollpin.testpb.types.v1=2.2"
)

// withUnknown returns m with an unknown field (number 999) appended.
func withUnknown[M proto.Message](m M) M {
	b := protowire.AppendTag(nil, 999, protowire.BytesType)
	b = protowire.AppendString(b, "from the future")
	m.ProtoReflect().SetUnknown(b)
	return m
}

type downgradeCase struct {
	name string
	in   proto.Message
	cap  string
	// want is the expected result; nil with no wantReject/wantErr means "the
	// very same message back".
	want proto.Message
	// wantReject is the expected RejectError (Path, Since, Cap, Track,
	// EnumValue are compared).
	wantReject *backport.RejectError
	wantErr    error
}

func downgradeCases() []downgradeCase {
	return []downgradeCase{
		{
			name: "top-level scalar dropped",
			in:   &svcpb.Volume{Name: "v", Zone: "z", Thin: true},
			cap:  svcCap13,
			want: &svcpb.Volume{Name: "v", Thin: true},
		},
		{
			name: "field at the cap kept, below dropped",
			in:   &svcpb.Volume{Name: "v", Thin: true, Tags: []string{"a"}},
			cap:  svcCap12,
			want: &svcpb.Volume{Name: "v"},
		},
		{
			name: "nested message field dropped",
			in:   &svcpb.Volume{Spec: &svcpb.Spec{SizeGb: 1, Note: "n", Thin: true}},
			cap:  svcCap13,
			want: &svcpb.Volume{Spec: &svcpb.Spec{SizeGb: 1, Thin: true}},
		},
		{
			name: "repeated message elements",
			in:   &svcpb.Volume{Items: []*svcpb.Item{{Name: "a", Tag: "t"}, {Name: "b"}, {Name: "c", Tag: "u"}}},
			cap:  svcCap13,
			want: &svcpb.Volume{Items: []*svcpb.Item{{Name: "a"}, {Name: "b"}, {Name: "c"}}},
		},
		{
			name: "map with message values",
			in:   &svcpb.Volume{ByName: map[string]*svcpb.Item{"a": {Name: "a", Tag: "t"}, "b": {Name: "b"}}},
			cap:  svcCap13,
			want: &svcpb.Volume{ByName: map[string]*svcpb.Item{"a": {Name: "a"}, "b": {Name: "b"}}},
		},
		{
			name: "singular enum with downgrade_to",
			in:   &svcpb.Volume{Kind: svcpb.Kind_KIND_NVME, Spec: &svcpb.Spec{Kind: svcpb.Kind_KIND_NVME}},
			cap:  svcCap13,
			want: &svcpb.Volume{Kind: svcpb.Kind_KIND_SSD, Spec: &svcpb.Spec{Kind: svcpb.Kind_KIND_SSD}},
		},
		{
			name: "repeated and map enums follow downgrade_to chains",
			in: &svcpb.Volume{
				Palette: []typespb.Color{typespb.Color_COLOR_BLUE, typespb.Color_COLOR_INFRARED, typespb.Color_COLOR_RED},
				Colors:  map[string]typespb.Color{"x": typespb.Color_COLOR_INFRARED, "y": typespb.Color_COLOR_RED},
			},
			cap: typesCap21,
			want: &svcpb.Volume{
				Palette: []typespb.Color{typespb.Color_COLOR_GREEN, typespb.Color_COLOR_GREEN, typespb.Color_COLOR_RED},
				Colors:  map[string]typespb.Color{"x": typespb.Color_COLOR_GREEN, "y": typespb.Color_COLOR_RED},
			},
		},
		{
			name: "enum chain stops at the cap",
			in:   &svcpb.Volume{Palette: []typespb.Color{typespb.Color_COLOR_INFRARED}},
			cap:  typesCap22,
			want: &svcpb.Volume{Palette: []typespb.Color{typespb.Color_COLOR_BLUE}},
		},
		{
			name:       "enum value without downgrade_to is rejected",
			in:         &svcpb.Volume{Items: []*svcpb.Item{{}, {Color: typespb.Color_COLOR_ULTRAVIOLET}}},
			cap:        typesCap22,
			wantReject: &backport.RejectError{Path: "items[1].color", EnumValue: "rollpin.testpb.types.v1.COLOR_ULTRAVIOLET", Track: "rollpin.testpb.types.v1", Since: backport.Version{2, 3}, Cap: backport.Version{2, 2}},
		},
		{
			name:       "enum rejected in a map value",
			in:         &svcpb.Volume{Colors: map[string]typespb.Color{"k": typespb.Color_COLOR_ULTRAVIOLET}},
			cap:        typesCap22,
			wantReject: &backport.RejectError{Path: `colors["k"]`, EnumValue: "rollpin.testpb.types.v1.COLOR_ULTRAVIOLET", Track: "rollpin.testpb.types.v1", Since: backport.Version{2, 3}, Cap: backport.Version{2, 2}},
		},
		{
			name: "cyclic type",
			in: &svcpb.Volume{Tree: &svcpb.Node{Name: "root", Extra: "x", Left: &svcpb.Node{
				Children: []*svcpb.Node{{Name: "c0"}, {Name: "c1", Extra: "y", Index: map[int32]*svcpb.Node{7: {Extra: "z", Color: typespb.Color_COLOR_BLUE}}}},
			}}},
			cap: svcCap12 + ",rollpin.testpb.types.v1=2.1",
			want: &svcpb.Volume{Tree: &svcpb.Node{Name: "root", Left: &svcpb.Node{
				Children: []*svcpb.Node{{Name: "c0"}, {Name: "c1", Index: map[int32]*svcpb.Node{7: {Color: typespb.Color_COLOR_GREEN}}}},
			}}},
		},
		{
			name:       "REJECT field set",
			in:         &svcpb.Volume{Spec: &svcpb.Spec{Encryption: &svcpb.Encryption{KeyId: "k"}}},
			cap:        svcCap13,
			wantReject: &backport.RejectError{Path: "spec.encryption", Track: "rollpin.testpb.svc.v1", Since: backport.Version{1, 4}, Cap: backport.Version{1, 3}},
		},
		{
			name: "REJECT field unset is fine",
			in:   &svcpb.Volume{Name: "v", Spec: &svcpb.Spec{SizeGb: 3}},
			cap:  svcCap13,
		},
		{
			name:       "oneof member with REJECT",
			in:         &svcpb.Volume{Source: &svcpb.Volume_CloneOf{CloneOf: &svcpb.Encryption{}}},
			cap:        svcCap13,
			wantReject: &backport.RejectError{Path: "clone_of", Track: "rollpin.testpb.svc.v1", Since: backport.Version{1, 4}, Cap: backport.Version{1, 3}},
		},
		{
			name: "oneof member dropped",
			in:   &svcpb.Volume{Name: "v", Source: &svcpb.Volume_Image{Image: "img"}},
			cap:  svcCap12,
			want: &svcpb.Volume{Name: "v"},
		},
		{
			name: "old oneof member with newer fields inside",
			in:   &svcpb.Volume{Source: &svcpb.Volume_Template{Template: &svcpb.Spec{SizeGb: 2, Note: "n"}}},
			cap:  svcCap13,
			want: &svcpb.Volume{Source: &svcpb.Volume_Template{Template: &svcpb.Spec{SizeGb: 2}}},
		},
		{
			name: "old oneof member kept",
			in:   &svcpb.Volume{Source: &svcpb.Volume_SnapshotId{SnapshotId: "s"}},
			cap:  svcCap12,
		},
		{
			name: "CUSTOM fields go through the downgrader",
			in:   &svcpb.Volume{Name: "v", Legacy: "old", MountOptions: "ro", Source: &svcpb.Volume_Url{Url: "http://x"}},
			cap:  svcCap13,
			want: &svcpb.Volume{Name: "v", Legacy: "old;url=http://x;mount_options=ro"},
		},
		{
			name: "downgrader output is downgraded further",
			in:   &svcpb.Volume{MountOptions: "ro", Zone: "z", Items: []*svcpb.Item{{Tag: "t"}}},
			cap:  svcCap13,
			want: &svcpb.Volume{Legacy: "mount_options=ro", Items: []*svcpb.Item{{}}},
		},
		{
			name: "unknown fields dropped from downgraded messages",
			in:   withUnknown(&svcpb.Volume{Name: "v", Zone: "z", Spec: withUnknown(&svcpb.Spec{Note: "n"})}),
			cap:  svcCap13,
			want: &svcpb.Volume{Name: "v", Spec: &svcpb.Spec{}},
		},
		{
			name: "unknown fields kept when nothing is downgraded",
			in:   withUnknown(&svcpb.Volume{Name: "v", Zone: "z"}),
			cap:  "rollpin.testpb.svc.v1=1.4",
		},
		{
			name: "cap above the schema version is nothing to do",
			in:   &svcpb.Volume{Name: "v", Zone: "z", Palette: []typespb.Color{typespb.Color_COLOR_ULTRAVIOLET}},
			cap:  "rollpin.testpb.svc.v1=1.9,rollpin.testpb.types.v1=2.8",
		},
		{
			name: "absent tracks are uncapped",
			in:   &svcpb.Volume{Name: "v", Zone: "z"},
			cap:  "acme.other.v1=0.1",
		},
		{
			name:    "across majors",
			in:      &svcpb.Volume{Name: "v"},
			cap:     "rollpin.testpb.types.v1=1.9",
			wantErr: backport.ErrAcrossMajors,
		},
		{
			name: "only the capped track is downgraded",
			in:   &svcpb.Volume{Zone: "z", Label: &typespb.Label{Key: "k", Note: "n", Color: typespb.Color_COLOR_BLUE}},
			cap:  "rollpin.testpb.types.v1=2.0",
			want: &svcpb.Volume{Zone: "z", Label: &typespb.Label{Key: "k"}},
		},
		{
			name: "through an unversioned package",
			in: &plainpb.Envelope{Id: "e", Volume: &svcpb.Volume{Zone: "z", Name: "v"},
				Labels: []*typespb.Label{{Key: "a"}, {Key: "b", Note: "n"}}},
			cap: svcCap13 + ",rollpin.testpb.types.v1=2.0",
			want: &plainpb.Envelope{Id: "e", Volume: &svcpb.Volume{Name: "v"},
				Labels: []*typespb.Label{{Key: "a"}, {Key: "b"}}},
		},
	}
}

func TestDowngrade(t *testing.T) {
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			for _, tc := range downgradeCases() {
				t.Run(tc.name, func(t *testing.T) {
					in := w.in(t, tc.in)
					before := proto.Clone(in)
					out, err := w.eng().Downgrade(in, mustCap(t, tc.cap))
					if !proto.Equal(in, before) {
						t.Fatalf("Downgrade mutated its input:\n got %v\nwant %v", in, before)
					}
					switch {
					case tc.wantReject != nil:
						var re *backport.RejectError
						if !errors.As(err, &re) {
							t.Fatalf("Downgrade() error = %v, want *RejectError", err)
						}
						got := backport.RejectError{Path: re.Path, EnumValue: re.EnumValue, Track: re.Track, Since: re.Since, Cap: re.Cap}
						if got != *tc.wantReject {
							t.Errorf("Downgrade() RejectError = %+v, want %+v", got, *tc.wantReject)
						}
						if re.Field == "" || !strings.Contains(re.Error(), re.Path) {
							t.Errorf("RejectError %q does not name field %q / path %q", re.Error(), re.Field, re.Path)
						}
						return
					case tc.wantErr != nil:
						if !errors.Is(err, tc.wantErr) {
							t.Fatalf("Downgrade() error = %v, want %v", err, tc.wantErr)
						}
						return
					}
					if err != nil {
						t.Fatalf("Downgrade() error = %v", err)
					}
					if tc.want == nil {
						if out != in {
							t.Fatalf("Downgrade() = a new message %v, want the input itself", out)
						}
						return
					}
					if got := toGenerated(t, out, tc.want); !proto.Equal(got, tc.want) {
						t.Errorf("Downgrade() =\n%v\nwant\n%v", got, tc.want)
					}
					if len(out.ProtoReflect().GetUnknown()) != 0 {
						t.Errorf("Downgrade() kept unknown fields %x", out.ProtoReflect().GetUnknown())
					}
					if again, err := w.eng().Downgrade(out, mustCap(t, tc.cap)); err != nil || again != out {
						t.Errorf("Downgrade(w.eng().Downgrade(x)) = %v, %v; want the same message back", again, err)
					}
				})
			}
		})
	}
}

// TestDowngradeReflectOwnsItsCopy: the protoreflect path clones a message
// that must change once and downgrades the clone in place, so the result
// shares nothing with the input that a later change could reach.
func TestDowngradeReflectOwnsItsCopy(t *testing.T) {
	in := &svcpb.Volume{
		Zone:  "z",
		Spec:  &svcpb.Spec{SizeGb: 1},
		Items: []*svcpb.Item{{Name: "a"}, {Name: "b", Tag: "t"}},
	}
	out, err := backport.New(backport.WithGeneratedCode(false)).Downgrade(in, mustCap(t, svcCap13))
	if err != nil {
		t.Fatal(err)
	}
	v := out.(*svcpb.Volume)
	if v == in || v.Zone != "" || v.Items[1].Tag != "" || in.Items[1].Tag != "t" {
		t.Fatalf("Downgrade() = %v from %v, want a copy without zone and tag", v, in)
	}
	v.Spec.SizeGb = 2
	if in.Spec.SizeGb != 1 {
		t.Errorf("the result shares Spec with the input")
	}
}

type countingObserver struct {
	mu      sync.Mutex
	dropped []string
	enums   []string
	filled  []string
}

func (o *countingObserver) FieldDropped(fd protoreflect.FieldDescriptor) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropped = append(o.dropped, string(fd.FullName()))
}

func (o *countingObserver) EnumDowngraded(fd protoreflect.FieldDescriptor, from, to protoreflect.EnumValueDescriptor) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.enums = append(o.enums, string(fd.Name())+":"+string(from.Name())+">"+string(to.Name()))
}

func (o *countingObserver) DefaultFilled(fd protoreflect.FieldDescriptor) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.filled = append(o.filled, string(fd.FullName()))
}

func TestDowngradeObserved(t *testing.T) {
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			in := w.in(t, &svcpb.Volume{Zone: "z", Kind: svcpb.Kind_KIND_NVME, Items: []*svcpb.Item{{Tag: "a"}, {Tag: "b"}},
				Palette: []typespb.Color{typespb.Color_COLOR_INFRARED}})
			var obs countingObserver
			if _, err := w.eng().DowngradeObserved(in, mustCap(t, svcCap13+",rollpin.testpb.types.v1=2.1"), &obs); err != nil {
				t.Fatal(err)
			}
			wantDropped := []string{"rollpin.testpb.svc.v1.Item.tag", "rollpin.testpb.svc.v1.Item.tag", "rollpin.testpb.svc.v1.Volume.zone"}
			if got := sortedStrings(obs.dropped); strings.Join(got, ",") != strings.Join(wantDropped, ",") {
				t.Errorf("FieldDropped calls = %v, want %v", got, wantDropped)
			}
			wantEnums := []string{"kind:KIND_NVME>KIND_SSD", "palette:COLOR_INFRARED>COLOR_GREEN"}
			if got := sortedStrings(obs.enums); strings.Join(got, ",") != strings.Join(wantEnums, ",") {
				t.Errorf("EnumDowngraded calls = %v, want %v", got, wantEnums)
			}
		})
	}
}

func TestDowngradeObservedRejectReportsNothing(t *testing.T) {
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			// zone would be dropped and kind downgraded, but the set REJECT
			// field fails the whole Downgrade: nothing was sent, so the
			// observer must hear of nothing.
			in := w.in(t, &svcpb.Volume{Zone: "z", Kind: svcpb.Kind_KIND_NVME,
				Spec: &svcpb.Spec{Encryption: &svcpb.Encryption{KeyId: "k"}}})
			var obs countingObserver
			_, err := w.eng().DowngradeObserved(in, mustCap(t, svcCap13), &obs)
			var re *backport.RejectError
			if !errors.As(err, &re) {
				t.Fatalf("DowngradeObserved() error = %v, want *RejectError", err)
			}
			if len(obs.dropped) != 0 || len(obs.enums) != 0 {
				t.Errorf("observer after a rejected Downgrade: dropped %v, enums %v; want none", obs.dropped, obs.enums)
			}
		})
	}
}

func TestDowngradeNoDowngrader(t *testing.T) {
	// A dynamic message type with a CUSTOM field and no hook.
	files := buildFiles(t, file("nohook/a.proto", "nohook.v1", fileOpts(t, "1.1", encGenerated), nil,
		[]*descriptorpbDescriptorProto{{
			Name: strPtr("M"),
			Field: []*descriptorpbField{
				field("x", 1, tString, fieldOpts(t, customSince("1.1"), encGenerated)),
			},
		}}))
	md := findMessage(t, files, "nohook.v1.M")
	m := newDynamic(md)
	m.Set(md.Fields().ByName("x"), protoreflect.ValueOfString("v"))
	_, err := backport.Downgrade(m, mustCap(t, "nohook.v1=1.0"))
	if !errors.Is(err, backport.ErrNoDowngrader) || !strings.Contains(err.Error(), "nohook.v1.M") {
		t.Errorf("Downgrade() error = %v, want ErrNoDowngrader naming nohook.v1.M", err)
	}
}

func TestDowngradeInvalidSchema(t *testing.T) {
	files := buildFiles(t, file("inv/a.proto", "inv.v1", fileOpts(t, "1.1", encGenerated), nil,
		[]*descriptorpbDescriptorProto{{
			Name:  strPtr("M"),
			Field: []*descriptorpbField{field("x", 1, tString, fieldOpts(t, sinceOnly("9.9"), encGenerated))},
		}}))
	m := newDynamic(findMessage(t, files, "inv.v1.M"))
	if _, err := backport.Downgrade(m, mustCap(t, "inv.v1=1.0")); !errors.Is(err, backport.ErrSchema) || !strings.Contains(err.Error(), "inv.v1.M.x") {
		t.Errorf("Downgrade() error = %v, want ErrSchema naming inv.v1.M.x", err)
	}
	if err := backport.FillDefaults(m, mustCap(t, "inv.v1=1.0")); !errors.Is(err, backport.ErrSchema) {
		t.Errorf("FillDefaults() error = %v, want ErrSchema", err)
	}
}

func TestDowngradeNilAndEmpty(t *testing.T) {
	if out, err := backport.Downgrade(nil, mustCap(t, svcCap12)); out != nil || err != nil {
		t.Errorf("Downgrade(nil) = %v, %v", out, err)
	}
	var v *svcpb.Volume
	if out, err := backport.Downgrade(v, mustCap(t, svcCap12)); out != proto.Message(v) || err != nil {
		t.Errorf("Downgrade(typed nil) = %v, %v", out, err)
	}
	if err := backport.FillDefaults(v, mustCap(t, svcCap12)); err != nil {
		t.Errorf("FillDefaults(typed nil) = %v", err)
	}
	var re *backport.RejectError
	if re.Error() == "" {
		t.Errorf("nil RejectError has an empty message")
	}
}

// TestCapPlanCacheBounded: each root plan keeps the capPlans of at most
// capCacheEntries caps, one per distinct projection of the cap onto its
// tracks, and a cap that was evicted is compiled again with the same result.
func TestCapPlanCacheBounded(t *testing.T) {
	req := backporttest.NewBenchRequest()
	// The protoreflect path keeps capPlans; generated code needs none.
	e := backport.New(backport.WithGeneratedCode(false))
	md := req.ProtoReflect().Descriptor()
	first := mustCap(t, backporttest.BenchCapText)
	want, err := e.Downgrade(req, first)
	if err != nil {
		t.Fatal(err)
	}
	// Tracks the message does not reach do not make a new entry.
	before := backport.CapCacheLen(e, md)
	if _, err := e.Downgrade(req, mustCap(t, backporttest.BenchCapText+",zzz.unrelated.v1=9.9")); err != nil {
		t.Fatal(err)
	}
	if n := backport.CapCacheLen(e, md); n != before {
		t.Errorf("an unrelated track added a cache entry: %d -> %d", before, n)
	}
	for minor := range 2 * backport.CapCacheEntries {
		cap := mustCap(t, fmt.Sprintf("%s=1.%d,%s=2.%d", backporttest.SvcTrack, minor%4, backporttest.TypesTrack, minor))
		if _, err := e.Downgrade(req, cap); err != nil {
			var re *backport.RejectError
			if !errors.As(err, &re) {
				t.Fatal(err)
			}
		}
		if n := backport.CapCacheLen(e, md); n > backport.CapCacheEntries {
			t.Fatalf("cache holds %d entries, bound is %d", n, backport.CapCacheEntries)
		}
	}
	got, err := e.Downgrade(req, first)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("after eviction: %v, want %v", got, want)
	}
}
