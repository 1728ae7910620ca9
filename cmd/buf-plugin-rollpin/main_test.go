package main

import (
	"testing"

	"buf.build/go/bufplugin/check/checktest"

	"github.com/rollpin/rollpin/compat"
)

func TestSpec(t *testing.T) {
	t.Parallel()
	checktest.SpecTest(t, spec())
}

func files(dir string) *checktest.ProtoFileSpec {
	return &checktest.ProtoFileSpec{
		DirPaths:  []string{"../../proto", dir},
		FilePaths: []string{"rollpin/v1/options.proto", "acme/shop/v1/shop.proto"},
	}
}

func TestGoodRelease(t *testing.T) {
	t.Parallel()
	checktest.CheckTest{
		Request: &checktest.RequestSpec{
			Files:        files("testdata/good/current"),
			AgainstFiles: files("testdata/good/previous"),
		},
		Spec: spec(),
	}.Run(t)
}

func TestLintFlagsBadAnnotations(t *testing.T) {
	t.Parallel()
	checktest.CheckTest{
		Request: &checktest.RequestSpec{Files: files("testdata/bad/current")},
		Spec:    spec(),
		ExpectedAnnotations: []checktest.ExpectedAnnotation{
			// Lines and columns count from 0: coupon's since 1.2 is above
			// the api version 1.1; rush's default "maybe" is no bool.
			{RuleID: string(compat.RuleBadDefault), FileLocation: loc(13, 2, 13, 72)},
			{RuleID: string(compat.RuleSinceAboveAPI), FileLocation: loc(12, 2, 12, 58)},
		},
	}.Run(t)
}

func TestBreakingFlagsIncompatibleRelease(t *testing.T) {
	t.Parallel()
	checktest.CheckTest{
		Request: &checktest.RequestSpec{
			Files:        files("testdata/bad/current"),
			AgainstFiles: files("testdata/bad/previous"),
			RuleIDs: []string{
				string(compat.RuleSinceMissing), string(compat.RuleRetyped), string(compat.RuleNotReserved),
			},
		},
		Spec: spec(),
		ExpectedAnnotations: []checktest.ExpectedAnnotation{
			// Lines and columns count from 0. cents went from int64 to int32.
			{RuleID: string(compat.RuleRetyped), FileLocation: loc(10, 2, 10, 18)},
			// The removed deprecated field: on its message now, and on the
			// field in the previous release.
			{
				RuleID:              string(compat.RuleNotReserved),
				FileLocation:        loc(8, 0, 14, 1),
				AgainstFileLocation: loc(11, 2, 11, 38),
			},
			// gift was added without since.
			{RuleID: string(compat.RuleSinceMissing), FileLocation: loc(11, 2, 11, 16)},
		},
	}.Run(t)
}

func loc(startLine, startCol, endLine, endCol int) *checktest.ExpectedFileLocation {
	return &checktest.ExpectedFileLocation{
		FileName:  "acme/shop/v1/shop.proto",
		StartLine: startLine, StartColumn: startCol, EndLine: endLine, EndColumn: endCol,
	}
}

// TestLintReportsEngineVerdicts: the lint rules are the engine's. An
// on_downgrade without since (which the engine refuses) and a float default
// out of range are findings; a double default "INF" (which the engine
// fills) is not.
func TestLintReportsEngineVerdicts(t *testing.T) {
	t.Parallel()
	checktest.CheckTest{
		Request: &checktest.RequestSpec{Files: files("testdata/engine")},
		Spec:    spec(),
		ExpectedAnnotations: []checktest.ExpectedAnnotation{
			// Lines and columns count from 0.
			{RuleID: string(compat.RuleBadDefault), FileLocation: loc(12, 2, 12, 73)},
			{RuleID: string(compat.RuleBadOnDowngrade), FileLocation: loc(10, 2, 10, 75)},
		},
	}.Run(t)
}
