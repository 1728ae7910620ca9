package backport_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/backport/backporttest/plainpb"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
	"github.com/rollpin/rollpin/backport/backporttest/typespb"
)

func TestFillDefaults(t *testing.T) {
	filledSpec := func(s *svcpb.Spec) *svcpb.Spec {
		s.Thin = true
		s.DefaultEncryption = &svcpb.Encryption{KeyId: "k0", Cipher: "aes-128"}
		return s
	}
	cases := []struct {
		name    string
		in      proto.Message
		sender  string
		want    proto.Message
		wantErr error
	}{
		{
			name:   "only unpopulated newer fields, recursively, never creating sub-messages",
			in:     &svcpb.Volume{Name: "v", Spec: &svcpb.Spec{SizeGb: 1}, Items: []*svcpb.Item{{Spec: &svcpb.Spec{}}, {Name: "no spec"}}, Label: &typespb.Label{Key: "k"}},
			sender: "rollpin.testpb.svc.v1=1.2,rollpin.testpb.types.v1=2.3",
			want: &svcpb.Volume{Name: "v", Thin: true, Quota: &typespb.Quota{Bytes: 1024, Color: typespb.Color_COLOR_RED},
				Spec:  filledSpec(&svcpb.Spec{SizeGb: 1}),
				Items: []*svcpb.Item{{Spec: filledSpec(&svcpb.Spec{})}, {Name: "no spec"}},
				Label: &typespb.Label{Key: "k"}},
		},
		{
			name:   "older sender gets older defaults too; map values",
			in:     &svcpb.Volume{ByName: map[string]*svcpb.Item{"a": {Spec: &svcpb.Spec{}}}},
			sender: "rollpin.testpb.svc.v1=1.1",
			want: &svcpb.Volume{Thin: true, Quota: &typespb.Quota{Bytes: 1024, Color: typespb.Color_COLOR_RED},
				ByName: map[string]*svcpb.Item{"a": {Spec: filledSpec(&svcpb.Spec{Kind: svcpb.Kind_KIND_SSD, Replicas: 3})}}},
		},
		{
			name:   "explicit zero from a sender that knew the field stays zero",
			in:     &svcpb.Volume{Thin: false, Spec: &svcpb.Spec{Thin: false, Kind: svcpb.Kind_KIND_UNSPECIFIED}},
			sender: "rollpin.testpb.svc.v1=1.3,rollpin.testpb.types.v1=2.3",
			want:   &svcpb.Volume{Spec: &svcpb.Spec{}},
		},
		{
			name:   "a field the sender could not know but set is left alone",
			in:     &svcpb.Volume{Quota: &typespb.Quota{Bytes: 5}},
			sender: "rollpin.testpb.svc.v1=1.2,rollpin.testpb.types.v1=2.0",
			want:   &svcpb.Volume{Thin: true, Quota: &typespb.Quota{Bytes: 5}},
		},
		{
			name:   "shared-types track and enum default",
			in:     &svcpb.Volume{Label: &typespb.Label{Key: "k"}, Spec: &svcpb.Spec{Quota: &typespb.Quota{}}},
			sender: "rollpin.testpb.svc.v1=1.4,rollpin.testpb.types.v1=2.1",
			want:   &svcpb.Volume{Label: &typespb.Label{Key: "k", Color: typespb.Color_COLOR_RED}, Spec: &svcpb.Spec{Quota: &typespb.Quota{Iops: 100}}},
		},
		{
			name:   "through an unversioned package",
			in:     &plainpb.Envelope{Volume: &svcpb.Volume{}, Labels: []*typespb.Label{{}}},
			sender: "rollpin.testpb.svc.v1=1.2,rollpin.testpb.types.v1=2.1",
			// A default is used as declared: it is not filled further.
			want: &plainpb.Envelope{Volume: &svcpb.Volume{Thin: true, Quota: &typespb.Quota{Bytes: 1024, Color: typespb.Color_COLOR_RED}},
				Labels: []*typespb.Label{{Color: typespb.Color_COLOR_RED}}},
		},
		{
			name:   "sender at or above the schema, or silent about a track",
			in:     &svcpb.Volume{Spec: &svcpb.Spec{}},
			sender: "rollpin.testpb.svc.v1=1.9",
			want:   &svcpb.Volume{Spec: &svcpb.Spec{}},
		},
		{
			name:    "sender in another major",
			in:      &svcpb.Volume{},
			sender:  "rollpin.testpb.svc.v1=0.9",
			wantErr: backport.ErrAcrossMajors,
		},
	}
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					m := w.in(t, tc.in)
					err := w.eng().FillDefaults(m, mustCap(t, tc.sender))
					if tc.wantErr != nil {
						if !errors.Is(err, tc.wantErr) {
							t.Fatalf("FillDefaults() error = %v, want %v", err, tc.wantErr)
						}
						return
					}
					if err != nil {
						t.Fatalf("FillDefaults() error = %v", err)
					}
					if got := toGenerated(t, m, tc.want); !proto.Equal(got, tc.want) {
						t.Errorf("FillDefaults() =\n%v\nwant\n%v", got, tc.want)
					}
				})
			}
		})
	}
}

// TestFillDefaultsUndoesDowngrade: a message downgraded to a cap and filled
// at the receiver from that cap has every field at or below the cap, and
// declared defaults for the rest.
func TestFillDefaultsAfterDowngrade(t *testing.T) {
	in := &svcpb.Volume{Name: "v", Thin: false, Zone: "z", Spec: &svcpb.Spec{Thin: true, Note: "n"}}
	cap := mustCap(t, svcCap12)
	out, err := backport.Downgrade(in, cap)
	if err != nil {
		t.Fatal(err)
	}
	recv := proto.Clone(out)
	var obs countingObserver
	if err := backport.FillDefaultsObserved(recv, cap, &obs); err != nil {
		t.Fatal(err)
	}
	want := &svcpb.Volume{Name: "v", Thin: true, Quota: &typespb.Quota{Bytes: 1024, Color: typespb.Color_COLOR_RED},
		Spec: &svcpb.Spec{Thin: true, DefaultEncryption: &svcpb.Encryption{KeyId: "k0", Cipher: "aes-128"}}}
	if !proto.Equal(recv, want) {
		t.Errorf("received %v, want %v", recv, want)
	}
	wantFilled := "rollpin.testpb.svc.v1.Spec.default_encryption,rollpin.testpb.svc.v1.Spec.thin,rollpin.testpb.svc.v1.Volume.quota,rollpin.testpb.svc.v1.Volume.thin"
	if got := strings.Join(sortedStrings(obs.filled), ","); got != wantFilled {
		t.Errorf("DefaultFilled calls = %s, want %s", got, wantFilled)
	}
}

// TestUpgrader: upgraders run on present messages whose track the sender
// has below this schema, after defaults.
func TestUpgrader(t *testing.T) {
	calls := 0
	upgrade := func(m protoreflect.Message, sender backport.Manifest) error {
		calls++
		fd := m.Descriptor().Fields().ByName("value")
		m.Set(fd, protoreflect.ValueOfString("upgraded from "+sender.String()+" color "+m.Get(m.Descriptor().Fields().ByName("color")).String()))
		return nil
	}
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			backport.SetUpgrader(w.eng(), "rollpin.testpb.types.v1.Label", upgrade)
			defer backport.SetUpgrader(w.eng(), "rollpin.testpb.types.v1.Label", nil)
			calls = 0
			m := w.in(t, &svcpb.Volume{Label: &typespb.Label{Key: "k"}})
			if err := w.eng().FillDefaults(m, mustCap(t, "rollpin.testpb.types.v1=2.0")); err != nil {
				t.Fatal(err)
			}
			got := toGenerated(t, m, &svcpb.Volume{}).(*svcpb.Volume)
			if calls != 1 || got.GetLabel().GetValue() != "upgraded from rollpin.testpb.types.v1=2.0 color 1" {
				t.Errorf("upgrader calls = %d, label = %v", calls, got.GetLabel())
			}
			calls = 0
			if err := w.eng().FillDefaults(w.in(t, &svcpb.Volume{Label: &typespb.Label{}}), mustCap(t, "rollpin.testpb.types.v1=2.3")); err != nil || calls != 0 {
				t.Errorf("sender at the schema version: upgrader calls = %d, err = %v; want 0, nil", calls, err)
			}
			if err := w.eng().FillDefaults(w.in(t, &svcpb.Volume{}), mustCap(t, "rollpin.testpb.types.v1=2.0")); err != nil || calls != 0 {
				t.Errorf("absent message: upgrader calls = %d, err = %v; want 0, nil", calls, err)
			}
		})
	}
}

// TestMayFill: MayFill answers from the schema alone, and when it says no,
// FillDefaults leaves random messages of the type untouched for every
// sender at or above the one asked about.
func TestMayFill(t *testing.T) {
	vol := (&svcpb.Volume{}).ProtoReflect().Descriptor()
	for _, c := range []struct {
		sender string
		want   bool
	}{
		{"rollpin.testpb.svc.v1=1.2", true},                              // Volume.thin (1.3) has a default
		{"rollpin.testpb.svc.v1=1.4,rollpin.testpb.types.v1=2.3", false}, // the schema itself
		{"", false},                         // tracks absent count as known
		{"rollpin.testpb.svc.v1=2.0", true}, // another major: FillDefaults fails
		{"rollpin.testpb.svc.v1=1.4,rollpin.testpb.types.v1=2.0", true},  // types defaults
		{"rollpin.testpb.svc.v1=1.9,rollpin.testpb.types.v1=2.9", false}, // newer than the schema
	} {
		if got := backport.MayFill(vol, mustCap(t, c.sender)); got != c.want {
			t.Errorf("MayFill(Volume, %q) = %v, want %v", c.sender, got, c.want)
		}
	}
	if backport.MayFill((&plainpb.Envelope{}).ProtoReflect().Descriptor(), mustCap(t, "rollpin.testpb.svc.v1=1.0")) !=
		backport.FillNeeded(backport.Default(), (&plainpb.Envelope{}).ProtoReflect().Descriptor(), mustCap(t, "rollpin.testpb.svc.v1=1.0"), false) {
		t.Error("MayFill disagrees with the filler on Envelope")
	}

	// An upgrader makes every sender below the schema a possible change.
	sender := mustCap(t, "rollpin.testpb.svc.v1=1.4,rollpin.testpb.types.v1=2.2")
	if backport.MayFill(vol, sender) {
		t.Fatalf("MayFill(Volume, %v) without upgraders = true", sender)
	}
	backport.RegisterUpgrader("rollpin.testpb.types.v1.Label", func(protoreflect.Message, backport.Manifest) error { return nil })
	if !backport.MayFill(vol, sender) {
		t.Errorf("MayFill(Volume, %v) with an upgrader on Label = false", sender)
	}
	backport.RegisterUpgrader("rollpin.testpb.types.v1.Label", nil)

	r := rand.New(rand.NewPCG(7, 8))
	for i := range 200 {
		root := randomRoots[i%len(randomRoots)]
		m := root.ProtoReflect().Type().New()
		populate(r, m, 4)
		for _, c := range randomCaps {
			cap := mustCap(t, c)
			if backport.MayFill(m.Descriptor(), cap) {
				continue
			}
			got := proto.Clone(m.Interface())
			if err := backport.FillDefaults(got, cap); err != nil {
				t.Fatalf("MayFill(%s, %q) = false but FillDefaults failed: %v", m.Descriptor().FullName(), c, err)
			}
			if !proto.Equal(got, m.Interface()) {
				t.Fatalf("MayFill(%s, %q) = false but FillDefaults changed %v", m.Descriptor().FullName(), c, m)
			}
		}
	}
}
