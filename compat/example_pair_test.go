package compat_test

import (
	"testing"

	"github.com/rollpin/rollpin/compat"
)

// The example service's 1.3 and 1.4 releases, as `buf build` images.
const (
	exampleV1 = "../examples/volume/v1/volume.binpb"
	exampleV2 = "../examples/volume/v2/volume.binpb"
)

func TestCheckExamplePair(t *testing.T) {
	t.Parallel()
	prev, err := compat.ReadImage(exampleV1)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := compat.ReadImage(exampleV2)
	if err != nil {
		t.Fatal(err)
	}
	findings, err := compat.Check(prev, cur)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(findings) != 0 {
		t.Errorf("Check(v1, v2) = %d findings, want none:\n%s", len(findings), render(findings))
	}
	// The reverse (a release that goes back) must not pass.
	back, err := compat.Check(cur, prev)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !hasRule(back, compat.RuleAPIBackwards) {
		t.Errorf("Check(v2, v1) findings lack %s:\n%s", compat.RuleAPIBackwards, render(back))
	}
}

func hasRule(fs []compat.Finding, r compat.Rule) bool {
	for _, f := range fs {
		if f.Rule == r {
			return true
		}
	}
	return false
}
