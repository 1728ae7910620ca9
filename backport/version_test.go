package backport_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rollpin/rollpin/backport"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want backport.Version
		ok   bool
	}{
		{"1.4", backport.Version{1, 4}, true},
		{"0.0", backport.Version{0, 0}, true},
		{"10.200", backport.Version{10, 200}, true},
		{"007.01", backport.Version{7, 1}, true},
		{"4294967295.4294967295", backport.Version{4294967295, 4294967295}, true},
		{"4294967296.0", backport.Version{}, false},
		{"1.4294967296", backport.Version{}, false},
		{"", backport.Version{}, false},
		{"1", backport.Version{}, false},
		{"1.", backport.Version{}, false},
		{".1", backport.Version{}, false},
		{"1.2.3", backport.Version{}, false},
		{"v1.2", backport.Version{}, false},
		{"+1.2", backport.Version{}, false},
		{"-1.2", backport.Version{}, false},
		{"1.-2", backport.Version{}, false},
		{" 1.2", backport.Version{}, false},
		{"1.2 ", backport.Version{}, false},
		{"1 .2", backport.Version{}, false},
		{"1_0.2", backport.Version{}, false},
		{"0x1.2", backport.Version{}, false},
		{"1.2\n", backport.Version{}, false},
		{"١.٢", backport.Version{}, false},
	} {
		got, err := backport.ParseVersion(tc.in)
		if tc.ok {
			if err != nil || got != tc.want {
				t.Errorf("ParseVersion(%q) = %v, %v; want %v, nil", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, backport.ErrBadVersion) {
			t.Errorf("ParseVersion(%q) = %v, %v; want an ErrBadVersion", tc.in, got, err)
		} else if !strings.Contains(err.Error(), "\""+tc.in+"\"") && !strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
			t.Errorf("ParseVersion(%q) error %q does not quote the input", tc.in, err)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	ordered := []backport.Version{{0, 0}, {0, 9}, {1, 0}, {1, 2}, {1, 10}, {2, 0}}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
			if got := a.Less(b); got != (i < j) {
				t.Errorf("%v.Less(%v) = %v, want %v", a, b, got, i < j)
			}
		}
	}
	if s := (backport.Version{3, 14}).String(); s != "3.14" {
		t.Errorf("String() = %q, want 3.14", s)
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.4", "0.0", "4294967295.4294967295", "4294967296.1", "1.2.3", "", "1.", "+1.2", "01.02", " 1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := backport.ParseVersion(s)
		if err != nil {
			if !errors.Is(err, backport.ErrBadVersion) {
				t.Fatalf("ParseVersion(%q) error %v does not wrap ErrBadVersion", s, err)
			}
			return
		}
		back, err := backport.ParseVersion(v.String())
		if err != nil || back != v {
			t.Fatalf("ParseVersion(%q) = %v; ParseVersion(String()) = %v, %v", s, v, back, err)
		}
		for _, c := range s {
			if (c < '0' || c > '9') && c != '.' {
				t.Fatalf("ParseVersion(%q) accepted a character %q", s, c)
			}
		}
	})
}
