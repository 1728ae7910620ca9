package pinsvc

import (
	"strings"
	"testing"
)

// Manifest text pind accepts spells every version canonically (no leading
// zeros), so one version never has two spellings.
func FuzzManifestField(f *testing.F) {
	for _, s := range []string{"acme.volume.v1=1.4", "acme.volume.v1=01.4", "a.v1=1.04,b.v1=2.0", "a.v1=0.0", "a.v1=+1.4", "a.v1=1.4 ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseManifestField("manifest", s)
		if err != nil {
			return
		}
		for entry := range strings.SplitSeq(s, ",") {
			_, v, _ := strings.Cut(entry, "=")
			if canonicalVersion(v) != v {
				t.Fatalf("parseManifestField(%q) accepted version %q, canonically %q", s, v, canonicalVersion(v))
			}
		}
		if again, err := parseManifestField("manifest", m.String()); err != nil || !again.Equal(m) {
			t.Fatalf("parseManifestField(%q) = %v, which does not parse back (%v)", s, m, err)
		}
	})
}
