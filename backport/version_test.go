package backport

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		ok   bool
	}{
		{"1.4", Version{1, 4}, true},
		{"0.0", Version{0, 0}, true},
		{"10.200", Version{10, 200}, true},
		{"007.01", Version{7, 1}, true},
		{"4294967295.4294967295", Version{4294967295, 4294967295}, true},
		{"4294967296.0", Version{}, false},
		{"1.4294967296", Version{}, false},
		{"", Version{}, false},
		{"1", Version{}, false},
		{"1.", Version{}, false},
		{".1", Version{}, false},
		{"1.2.3", Version{}, false},
		{"v1.2", Version{}, false},
		{"+1.2", Version{}, false},
		{"-1.2", Version{}, false},
		{"1.-2", Version{}, false},
		{" 1.2", Version{}, false},
		{"1.2 ", Version{}, false},
		{"1 .2", Version{}, false},
		{"1_0.2", Version{}, false},
		{"0x1.2", Version{}, false},
		{"1.2\n", Version{}, false},
		{"١.٢", Version{}, false},
	} {
		got, err := ParseVersion(tc.in)
		if tc.ok {
			if err != nil || got != tc.want {
				t.Errorf("ParseVersion(%q) = %v, %v; want %v, nil", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrBadVersion) {
			t.Errorf("ParseVersion(%q) = %v, %v; want an ErrBadVersion", tc.in, got, err)
		} else if !strings.Contains(err.Error(), "\""+tc.in+"\"") && !strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
			t.Errorf("ParseVersion(%q) error %q does not quote the input", tc.in, err)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	ordered := []Version{{0, 0}, {0, 9}, {1, 0}, {1, 2}, {1, 10}, {2, 0}}
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
	if s := (Version{3, 14}).String(); s != "3.14" {
		t.Errorf("String() = %q, want 3.14", s)
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.4", "0.0", "4294967295.4294967295", "4294967296.1", "1.2.3", "", "1.", "+1.2", "01.02", " 1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			if !errors.Is(err, ErrBadVersion) {
				t.Fatalf("ParseVersion(%q) error %v does not wrap ErrBadVersion", s, err)
			}
			return
		}
		back, err := ParseVersion(v.String())
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
