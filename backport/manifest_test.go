package backport_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rollpin/rollpin/backport"
)

func TestParseManifest(t *testing.T) {
	for _, tc := range []struct {
		in, canon string
		ok        bool
	}{
		{"", "", true},
		{"acme.volume.v1=1.3", "acme.volume.v1=1.3", true},
		{"acme.volume.v1=1.3,acme.types.v1=2.0", "acme.types.v1=2.0,acme.volume.v1=1.3", true},
		{"b=1.0,a=2.0,c_1.X=0.0", "a=2.0,b=1.0,c_1.X=0.0", true},
		{"a=1.0,a=1.0", "", false},
		{"b=1.0,a=1.1,b=2.0", "", false},
		{"a=1.0,", "", false},
		{",a=1.0", "", false},
		{"a", "", false},
		{"a=", "", false},
		{"=1.0", "", false},
		{"a=1", "", false},
		{"a =1.0", "", false},
		{"a= 1.0", "", false},
		{"a=1.0 ,b=1.0", "", false},
		{"a..b=1.0", "", false},
		{".a=1.0", "", false},
		{"a.=1.0", "", false},
		{"1a=1.0", "", false},
		{"a.1b=1.0", "", false},
		{"a-b=1.0", "", false},
		{"a=1.0=2.0", "", false},
		{"a=1.0;b=2.0", "", false},
	} {
		m, err := backport.ParseManifest(tc.in)
		if !tc.ok {
			if err == nil || !errors.Is(err, backport.ErrBadManifest) {
				t.Errorf("ParseManifest(%q) = %q, %v; want an ErrBadManifest", tc.in, m, err)
			}
			continue
		}
		if err != nil || m.String() != tc.canon {
			t.Errorf("ParseManifest(%q) = %q, %v; want %q", tc.in, m, err, tc.canon)
		}
	}
	if _, err := backport.ParseManifest("a=1.0" + strings.Repeat(",a=1.0", 20000)); !errors.Is(err, backport.ErrBadManifest) {
		t.Errorf("ParseManifest(huge) error = %v, want ErrBadManifest", err)
	}
}

func TestManifestOps(t *testing.T) {
	m := func(s string) backport.Manifest { return mustCap(t, s) }
	a := m("t1=1.4,t2=2.0,t3=1.0")
	b := m("t1=1.2,t2=2.1,t4=3.0")

	if got := backport.Min(a, b).String(); got != "t1=1.2,t2=2.0,t3=1.0,t4=3.0" {
		t.Errorf("Min(a, b) = %s", got)
	}
	if got := backport.Min(b, a).String(); got != "t1=1.2,t2=2.0,t3=1.0,t4=3.0" {
		t.Errorf("Min(b, a) = %s", got)
	}
	if got := backport.Min(a, backport.Manifest{}); !got.Equal(a) {
		t.Errorf("Min(a, empty) = %s", got)
	}
	if got := backport.Min(backport.Manifest{}, b); !got.Equal(b) {
		t.Errorf("Min(empty, b) = %s", got)
	}
	lower := m("t1=1.0,t2=1.0,t3=0.5")
	if got := backport.Min(a, lower); !got.Equal(lower) {
		t.Errorf("Min(a, lower) = %s, want %s", got, lower)
	}

	for _, tc := range []struct {
		m, o string
		want bool
	}{
		{"t1=1.4", "t1=1.2", true},
		{"t1=1.2", "t1=1.4", false},
		{"t1=1.4", "t1=1.4", true},
		{"t1=1.4", "t2=9.9", true}, // disjoint tracks are uncapped
		{"t1=1.4,t2=1.0", "t1=1.0,t2=1.1", false},
		{"", "t1=1.0", true},
		{"t1=1.0", "", true},
	} {
		if got := m(tc.m).Covers(m(tc.o)); got != tc.want {
			t.Errorf("%q.Covers(%q) = %v, want %v", tc.m, tc.o, got, tc.want)
		}
	}

	if got := a.NewerThan(b); len(got) != 1 || got[0] != (backport.Entry{"t1", backport.Version{1, 4}}) {
		t.Errorf("a.NewerThan(b) = %v", got)
	}
	if got := lower.NewerThan(a); got != nil {
		t.Errorf("lower.NewerThan(a) = %v, want nil", got)
	}
	if v, ok := a.Get("t2"); !ok || v != (backport.Version{2, 0}) {
		t.Errorf("Get(t2) = %v, %v", v, ok)
	}
	if _, ok := a.Get("t9"); ok {
		t.Errorf("Get(t9) found a track")
	}
	if got := a.Restrict("t3", "t1", "zz").String(); got != "t1=1.4,t3=1.0" {
		t.Errorf("Restrict = %s", got)
	}
	w, err := a.With("t0", backport.Version{5, 5})
	if err != nil || w.String() != "t0=5.5,t1=1.4,t2=2.0,t3=1.0" || a.String() != "t1=1.4,t2=2.0,t3=1.0" {
		t.Errorf("With(t0) = %s, %v (a = %s)", w, err, a)
	}
	if w, _ := a.With("t2", backport.Version{2, 7}); w.String() != "t1=1.4,t2=2.7,t3=1.0" {
		t.Errorf("With(t2) = %s", w)
	}
	if _, err := a.With("bad track", backport.Version{}); !errors.Is(err, backport.ErrBadManifest) {
		t.Errorf("With(bad) error = %v", err)
	}
	if _, err := backport.NewManifest(backport.Entry{"x", backport.Version{}}, backport.Entry{"x", backport.Version{1, 0}}); !errors.Is(err, backport.ErrBadManifest) {
		t.Errorf("NewManifest(duplicate) error = %v", err)
	}
	if a.Len() != 3 || a.IsEmpty() || !(backport.Manifest{}).IsEmpty() {
		t.Errorf("Len/IsEmpty wrong")
	}
	// Many tracks: Get switches to binary search.
	var es []backport.Entry
	for _, c := range "abcdefghijklmnop" {
		es = append(es, backport.Entry{Track: "t" + string(c), Version: backport.Version{1, uint32(c)}})
	}
	big := backport.MustManifest(es...)
	for _, e := range es {
		if v, ok := big.Get(e.Track); !ok || v != e.Version {
			t.Errorf("big.Get(%s) = %v, %v", e.Track, v, ok)
		}
	}
	if !slices.Equal(big.Entries(), es) {
		t.Errorf("Entries() not sorted as built")
	}
}

func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{
		"", "acme.volume.v1=1.3", "acme.volume.v1=1.3,acme.types.v1=2.0", "a=1.0,a=1.0", "a=1.0,", "a.b_c.D9=4294967295.0",
		"b=1.0,a=2.0", "a=01.002", " a=1.0", "a=1.0,b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := backport.ParseManifest(s)
		if err != nil {
			if !errors.Is(err, backport.ErrBadManifest) {
				t.Fatalf("ParseManifest(%q) error %v does not wrap ErrBadManifest", s, err)
			}
			return
		}
		text := m.String()
		back, err := backport.ParseManifest(text)
		if err != nil || !back.Equal(m) || back.String() != text {
			t.Fatalf("ParseManifest(%q).String() = %q does not round-trip: %q, %v", s, text, back, err)
		}
		es := m.Entries()
		for i := 1; i < len(es); i++ {
			if es[i-1].Track >= es[i].Track {
				t.Fatalf("ParseManifest(%q) entries not strictly sorted: %v", s, es)
			}
		}
		if !backport.Min(m, m).Equal(m) || !m.Covers(m) {
			t.Fatalf("Min/Covers not reflexive on %q", text)
		}
	})
}
