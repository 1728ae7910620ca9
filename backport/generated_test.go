package backport_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/backport/backporttest"
	"github.com/rollpin/rollpin/backport/backporttest/plainpb"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
	"github.com/rollpin/rollpin/backport/backporttest/typespb"
)

// TestDowngradeSharesUnchangedSubtrees: generated code copies only what
// changes.
func TestDowngradeSharesUnchangedSubtrees(t *testing.T) {
	in := &svcpb.Volume{
		Zone:   "z",
		Spec:   &svcpb.Spec{SizeGb: 1},
		Label:  &typespb.Label{Key: "k"},
		Items:  []*svcpb.Item{{Name: "a"}, {Name: "b", Tag: "t"}},
		ByName: map[string]*svcpb.Item{"a": {Name: "a"}},
	}
	out, err := generatedEngine.Downgrade(in, mustCap(t, svcCap13))
	if err != nil {
		t.Fatal(err)
	}
	v := out.(*svcpb.Volume)
	if v == in || v.Zone != "" {
		t.Fatalf("Downgrade() = %v, want a copy without zone", v)
	}
	if v.Spec != in.Spec || v.Label != in.Label || v.ByName["a"] != in.ByName["a"] {
		t.Errorf("unchanged sub-messages were copied")
	}
	if v.Items[0] != in.Items[0] || v.Items[1] == in.Items[1] {
		t.Errorf("Items: unchanged element copied or changed element shared")
	}
}

// TestTypedHooks: the generated typed hook helpers install hooks that
// receive the generated type, on an engine of their own and on the
// default engine.
func TestTypedHooks(t *testing.T) {
	var got *svcpb.Volume
	e := backport.New(svcpb.WithVolumeDowngrader(func(m *svcpb.Volume, cap backport.Manifest) error {
		got = m
		m.Legacy = "typed:" + m.GetUrl()
		return nil
	}))
	in := &svcpb.Volume{Source: &svcpb.Volume_Url{Url: "u"}}
	out, err := e.Downgrade(in, mustCap(t, svcCap13))
	if err != nil {
		t.Fatal(err)
	}
	if v := out.(*svcpb.Volume); got == nil || got == in || v.Legacy != "typed:u" || v.GetUrl() != "" {
		t.Errorf("Downgrade() = %v (hook saw %p, input %p); want legacy folded, url cleared, hook on a copy", out, got, in)
	}
	// The same typed hook serves a dynamic message of the same name.
	dyn := backport.New(backport.WithFiles(dynamicFiles()), svcpb.WithVolumeDowngrader(func(m *svcpb.Volume, _ backport.Manifest) error {
		m.Legacy = "typed:" + m.GetUrl()
		return nil
	}))
	dout, err := dyn.Downgrade(toDynamic(t, in), mustCap(t, svcCap13))
	if err != nil {
		t.Fatal(err)
	}
	if v := toGenerated(t, dout, &svcpb.Volume{}).(*svcpb.Volume); v.Legacy != "typed:u" || v.GetUrl() != "" {
		t.Errorf("dynamic Downgrade() = %v", v)
	}
}

// FuzzGeneratedMatchesReflect: on random messages and caps the generated
// code and the protoreflect path give the same output (unknown fields
// included), the same errors and the same observed changes.
func FuzzGeneratedMatchesReflect(f *testing.F) {
	for _, m := range []proto.Message{
		backporttest.NewBenchRequest(),
		withUnknown(&svcpb.Volume{Spec: &svcpb.Spec{Note: "n", Encryption: &svcpb.Encryption{}}}),
		&svcpb.Volume{Tree: &svcpb.Node{Left: &svcpb.Node{Extra: "x", Children: []*svcpb.Node{{Extra: "y"}}}}},
		&svcpb.Volume{Palette: []typespb.Color{typespb.Color_COLOR_INFRARED, typespb.Color_COLOR_ULTRAVIOLET}, Kind: svcpb.Kind_KIND_NVME},
		&svcpb.Volume{Source: &svcpb.Volume_Url{Url: "u"}, MountOptions: "ro"},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{3, 2, 0}, b...))
		f.Add(append([]byte{1, 0, 1}, b...))
	}
	// The first three bytes choose the cap (svc minor, types minor; out of
	// range: uncapped) and the root type; the rest is the message.
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 3 {
			return
		}
		checkGeneratedMatchesReflect(t, b[3:], b[0], b[1], b[2]&1 == 1)
	})
}

func checkGeneratedMatchesReflect(t *testing.T, b []byte, svcMinor, typesMinor uint8, envelope bool) {
	{
		var in proto.Message = &svcpb.Volume{}
		if envelope {
			in = &plainpb.Envelope{}
		}
		if err := proto.Unmarshal(b, in); err != nil {
			return
		}
		capText := ""
		if svcMinor%6 < 5 {
			capText = "rollpin.testpb.svc.v1=1." + string(rune('0'+svcMinor%6))
		}
		if typesMinor%5 < 4 {
			if capText != "" {
				capText += ","
			}
			capText += "rollpin.testpb.types.v1=2." + string(rune('0'+typesMinor%5))
		}
		cap := mustCap(t, capText)
		var go1, ro countingObserver
		gout, gerr := generatedEngine.DowngradeObserved(in, cap, &go1)
		rout, rerr := reflectEngine.DowngradeObserved(in, cap, &ro)
		var gre, rre *backport.RejectError
		switch {
		case errors.As(gerr, &gre) != errors.As(rerr, &rre):
			t.Fatalf("cap %q: generated error %v, protoreflect error %v", capText, gerr, rerr)
		case gre != nil:
			// Two rejected values in one map may be met in either order.
			if !strings.Contains(gre.Path, "[\"") && *gre != *rre {
				t.Fatalf("cap %q: generated %+v, protoreflect %+v", capText, *gre, *rre)
			}
			return
		case (gerr == nil) != (rerr == nil) || (gerr != nil && gerr.Error() != rerr.Error()):
			t.Fatalf("cap %q: generated error %v, protoreflect error %v", capText, gerr, rerr)
		case gerr != nil:
			return
		}
		if !proto.Equal(gout, rout) {
			t.Fatalf("cap %q: generated\n%v\nprotoreflect\n%v", capText, gout, rout)
		}
		if (gout == in) != (rout == in) {
			t.Fatalf("cap %q: generated returned the input %v, protoreflect %v", capText, gout == in, rout == in)
		}
		for _, l := range [][2][]string{{go1.dropped, ro.dropped}, {go1.enums, ro.enums}} {
			if !slices.Equal(sortedStrings(l[0]), sortedStrings(l[1])) {
				t.Fatalf("cap %q: observed %v (generated) and %v (protoreflect)", capText, l[0], l[1])
			}
		}
		// FillDefaults from a sender at the cap: same result.
		ga, ra := proto.Clone(gout), proto.Clone(gout)
		gerr, rerr = generatedEngine.FillDefaults(ga, cap), reflectEngine.FillDefaults(ra, cap)
		if (gerr == nil) != (rerr == nil) || !proto.Equal(ga, ra) {
			t.Fatalf("cap %q: FillDefaults generated %v (%v), protoreflect %v (%v)", capText, ga, gerr, ra, rerr)
		}
	}
}
