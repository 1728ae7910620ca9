package main

import (
	"strings"
	"testing"
	"time"
)

func FuzzParseWaitCond(f *testing.F) {
	for _, s := range []string{"pin=1.4", "floor=acme.volume.v1=1.4,acme.types.v1=2.0", "cap=", "size=3", "pin"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseWaitCond(s)
		if err != nil {
			return
		}
		if c.String() != s || !strings.HasPrefix(s, c.what+"=") {
			t.Fatalf("parseWaitCond(%q) = %+v, want the input back", s, c)
		}
	})
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"24h", "90m", "-1h", "2026-03-02T09:00:00Z", "yesterday"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSince(s, now)
		if err != nil {
			return
		}
		if d, derr := time.ParseDuration(s); derr == nil && !got.Equal(now.Add(-d)) {
			t.Fatalf("parseSince(%q) = %v, want now - %v", s, got, d)
		}
	})
}
