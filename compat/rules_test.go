package compat_test

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/compat"
)

const floatsPath = "acme/floats/v1/floats.proto"

func floatsSchema(dflt string) string {
	return `syntax = "proto3";
package acme.floats.v1;
import "rollpin/v1/options.proto";
option (rollpin.v1.api) = {version: "1.1"};
message Limits {
  string name = 1;
  double ceiling = 2 [(rollpin.v1.field) = {since: "1.1", default: "` + dflt + `"}];
}
`
}

// TestFloatDefaultsOneVerdict: a float default gets one verdict from lint
// and from the engine. Infinities and NaN are valid everywhere (the engine
// fills them); a finite number out of range is refused everywhere, with a
// message that says why.
func TestFloatDefaultsOneVerdict(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text  string
		valid bool
		check func(float64) bool
	}{
		{"INF", true, func(f float64) bool { return math.IsInf(f, 1) }},
		{"-Infinity", true, func(f float64) bool { return math.IsInf(f, -1) }},
		{"nan", true, math.IsNaN},
		{"2.5", true, func(f float64) bool { return f == 2.5 }},
		{"1e400", false, nil},
		{"lots", false, nil},
	} {
		t.Run(tt.text, func(t *testing.T) {
			set := compileSet(t, map[string]string{floatsPath: floatsSchema(tt.text)})
			findings, err := compat.Check(nil, set)
			if err != nil {
				t.Fatal(err)
			}
			files, err := compat.NewFiles(set)
			if err != nil {
				t.Fatal(err)
			}
			d, err := files.FindDescriptorByName("acme.floats.v1.Limits")
			if err != nil {
				t.Fatal(err)
			}
			md := d.(protoreflect.MessageDescriptor)
			engineErr := backport.CheckMessage(md)
			if tt.valid {
				if len(findings) != 0 || engineErr != nil {
					t.Fatalf("default %q: lint %s, engine %v; want both to accept", tt.text, render(findings), engineErr)
				}
				m := dynamicpb.NewMessage(md)
				if err := backport.FillDefaults(m, mustManifest(t, "acme.floats.v1=1.0")); err != nil {
					t.Fatalf("FillDefaults: %v", err)
				}
				if got := m.Get(md.Fields().ByName("ceiling")).Float(); !tt.check(got) {
					t.Errorf("FillDefaults filled ceiling = %v for default %q", got, tt.text)
				}
				return
			}
			if len(findings) != 1 || findings[0].Rule != compat.RuleBadDefault || engineErr == nil {
				t.Fatalf("default %q: lint %s, engine %v; want both to refuse", tt.text, render(findings), engineErr)
			}
			if msg := engineErr.Error(); strings.Contains(msg, "%!") || !strings.Contains(msg, tt.text) {
				t.Errorf("engine error %q is garbled or does not quote the default", msg)
			}
		})
	}
}

func mustManifest(t *testing.T, s string) backport.Manifest {
	t.Helper()
	m, err := backport.ParseManifest(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
