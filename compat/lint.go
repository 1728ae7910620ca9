package compat

import (
	"slices"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/rollpin/rollpin/backport"
)

// Lint checks the rollpin annotations of one schema on their own: it reports
// the verdicts of backport.CheckAnnotations, the rules the engine compiles
// plans with (versions parse, no since is above its package's api version or
// sits in a package without one, the files of a package agree on its api
// version, on_downgrade, default and downgrade_to only with a since, defaults
// parse for their field, every downgrade_to names an older value of the same
// enum). A schema Lint accepts is one the engine compiles, and the other way
// round. Findings are sorted by file, element and rule.
func Lint(files *protoregistry.Files) []Finding {
	vs := backport.CheckAnnotations(files)
	out := make([]Finding, 0, len(vs))
	for _, v := range vs {
		out = append(out, Finding{File: v.File, Element: v.Element, Rule: Rule(v.Rule), Message: v.Message, Fix: v.Fix})
	}
	sortFindings(out)
	return out
}

func sortedTrackNames(m map[string]*track) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
