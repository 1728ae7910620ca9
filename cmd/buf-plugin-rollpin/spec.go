package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"buf.build/go/bufplugin/check"
	"buf.build/go/bufplugin/descriptor"
	"buf.build/go/bufplugin/info"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/rollpin/rollpin/compat"
)

// category groups every rollpin rule, so buf.yaml can select them at once.
const category = "ROLLPIN"

// purposes describes each rule for `buf config ls-lint-rules` and
// `buf config ls-breaking-rules`.
var purposes = map[compat.Rule]string{
	compat.RuleBadVersion:      "Checks that every rollpin api version and since is MAJOR.MINOR.",
	compat.RuleAPIMismatch:     "Checks that the files of a package that declare (rollpin.v1.api) agree on the version.",
	compat.RuleSinceAboveAPI:   "Checks that no since is above its package's api version.",
	compat.RuleSinceWithoutAPI: "Checks that a since appears only in a package that declares (rollpin.v1.api).",
	compat.RuleAPIPackage:      "Checks that (rollpin.v1.api) is declared in a file whose package can be a track.",
	compat.RuleBadOnDowngrade:  "Checks that on_downgrade is set only with a since and names a known action.",
	compat.RuleOptionDecodes:   "Checks that every rollpin option decodes.",
	compat.RuleBadDefault:      "Checks that every rollpin default parses for its field and has a since.",
	compat.RuleBadDowngradeTo:  "Checks that every downgrade_to names an older value of the same enum.",
	compat.RuleSinceMissing:    "Checks that every field, enum value and method added since the previous release has a since.",
	compat.RuleSinceNotNew:     "Checks that the since of an added element is above the previous release's api version.",
	compat.RuleAPIBackwards:    "Checks that a package's api version does not go below the previous release's.",
	compat.RuleAPINotRaised:    "Checks that a package's api version rises when elements are added.",
	compat.RuleSinceChanged:    "Checks that the since of an existing element does not change.",
	compat.RuleRemoved:         "Checks that fields, enum values, methods and types are removed only after being deprecated.",
	compat.RuleNotReserved:     "Checks that the number of a removed field or enum value is reserved.",
	compat.RuleRenumbered:      "Checks that fields and enum values keep their numbers.",
	compat.RuleRetyped:         "Checks that fields keep their type and cardinality.",
	compat.RuleMethodType:      "Checks that methods keep their request and response types and streaming.",
	compat.RuleNumberReused:    "Checks that a field number keeps its field name (no reuse by another field, no rename).",
	compat.RuleEnumValueName:   "Checks that an enum value number keeps its name, or keeps the old name as an alias.",
	compat.RuleSameOneof:       "Checks that fields do not move into, out of, or between oneofs.",
	compat.RuleJSONName:        "Checks that fields keep their JSON name.",
	compat.RuleAPIDropped:      "Checks that a package that declared (rollpin.v1.api) keeps declaring it.",
	compat.RuleDefaultChanged:  "Checks that the default of an existing field does not change (allow it when the change is meant).",
	compat.RuleSinceOldMajor:   "Checks that an added element's since is not in an older major than the package's new version.",
}

// spec is the plugin: one rule per compat rule. The findings of a request
// are computed once (by whichever rule runs first) and each rule reports its
// own.
func spec() *check.Spec {
	var rules []*check.RuleSpec
	for _, r := range compat.LintRules() {
		rules = append(rules, ruleSpec(r, check.RuleTypeLint))
	}
	for _, r := range compat.DiffRules() {
		rules = append(rules, ruleSpec(r, check.RuleTypeBreaking))
	}
	return &check.Spec{
		Rules: rules,
		Categories: []*check.CategorySpec{{
			ID:      category,
			Purpose: "Checks rollpin version annotations (since, defaults, downgrade_to, api versions).",
		}},
		Info: &info.Spec{
			Documentation: "Runs rollpin's compatibility checks (github.com/rollpin/rollpin/compat) in buf lint and buf breaking.",
		},
		Before: func(ctx context.Context, req check.Request) (context.Context, check.Request, error) {
			return context.WithValue(ctx, resultKey{}, &result{}), req, nil
		},
	}
}

func ruleSpec(r compat.Rule, typ check.RuleType) *check.RuleSpec {
	return &check.RuleSpec{
		ID:          string(r),
		CategoryIDs: []string{category},
		Default:     true,
		Purpose:     purposes[r],
		Type:        typ,
		Handler: check.RuleHandlerFunc(func(ctx context.Context, w check.ResponseWriter, req check.Request) error {
			res, ok := ctx.Value(resultKey{}).(*result)
			if !ok {
				res = &result{}
			}
			if err := res.compute(req); err != nil {
				return err
			}
			for _, f := range res.findings {
				if f.Rule == r {
					w.AddAnnotation(res.annotate(f)...)
				}
			}
			return nil
		}),
	}
}

type resultKey struct{}

// result holds the findings of one request, computed once.
type result struct {
	once     sync.Once
	err      error
	cur      *protoregistry.Files
	against  *protoregistry.Files
	findings []compat.Finding
}

func (res *result) compute(req check.Request) error {
	res.once.Do(func() {
		var curImports, againstImports map[string]bool
		res.cur, curImports, res.err = registry(req.FileDescriptors())
		if res.err != nil {
			return
		}
		all := compat.Lint(res.cur)
		if against := req.AgainstFileDescriptors(); len(against) > 0 {
			res.against, againstImports, res.err = registry(against)
			if res.err != nil {
				return
			}
			all = append(all, compat.Diff(res.against, res.cur)...)
		}
		for _, f := range all {
			imports := curImports
			if f.Previous {
				imports = againstImports
			}
			if imports[f.File] {
				continue // not this module's to fix
			}
			res.findings = append(res.findings, f)
		}
	})
	return res.err
}

// registry links the request's files into a registry and reports which are
// imports.
func registry(fds []descriptor.FileDescriptor) (*protoregistry.Files, map[string]bool, error) {
	files := &protoregistry.Files{}
	imports := map[string]bool{}
	for _, fd := range fds {
		pfd := fd.ProtoreflectFileDescriptor()
		if err := files.RegisterFile(pfd); err != nil {
			return nil, nil, fmt.Errorf("buf-plugin-rollpin: register %s: %w", pfd.Path(), err)
		}
		if fd.IsImport() {
			imports[pfd.Path()] = true
		}
	}
	return files, imports, nil
}

// annotate places a finding on its element: the element in the current
// files, or, for a removed element, its parent in the current files and the
// element itself in the previous ones.
func (res *result) annotate(f compat.Finding) []check.AddAnnotationOption {
	opts := []check.AddAnnotationOption{
		check.WithMessage(fmt.Sprintf("%s: %s. Fix: %s.", f.Element, strings.TrimSuffix(f.Message, "."), f.Fix)),
	}
	if !f.Previous {
		if d, err := res.cur.FindDescriptorByName(f.Element); err == nil && d.ParentFile().Path() == f.File {
			return append(opts, check.WithDescriptor(d))
		}
		return append(opts, check.WithFileName(f.File))
	}
	placed := false
	if res.against != nil {
		if d, err := res.against.FindDescriptorByName(f.Element); err == nil {
			opts = append(opts, check.WithAgainstDescriptor(d))
		}
	}
	for parent := f.Element.Parent(); parent != ""; parent = parent.Parent() {
		if d, err := res.cur.FindDescriptorByName(parent); err == nil {
			if _, isFile := d.(protoreflect.FileDescriptor); !isFile {
				opts = append(opts, check.WithDescriptor(d))
				placed = true
			}
			break
		}
	}
	if !placed {
		if _, err := res.cur.FindFileByPath(f.File); err == nil {
			opts = append(opts, check.WithFileName(f.File))
		}
	}
	return opts
}
