package compat

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/rollpin/rollpin/backport"
)

// Lint checks the rollpin annotations of one schema on their own (the rules
// in LintRules): versions parse, no since is above its package's api
// version or sits in a package without one, the files of a package agree on
// its api version, defaults parse for their field, and every downgrade_to
// names an older value of the same enum. Findings are sorted by file,
// element and rule.
func Lint(files *protoregistry.Files) []Finding {
	s := newSchema(files)
	var out []Finding
	add := func(file string, el protoreflect.FullName, r Rule, fix, format string, args ...any) {
		out = append(out, Finding{File: file, Element: el, Rule: r, Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	for _, pkg := range sortedTrackNames(s.tracks) {
		t := s.tracks[pkg]
		if !t.valid {
			add(t.file, protoreflect.FullName(pkg), RuleBadVersion,
				`write the version as MAJOR.MINOR, e.g. option (rollpin.v1.api) = {version: "1.0"};`,
				"api version %q of package %s is not MAJOR.MINOR", t.text, pkg)
		}
		for _, m := range t.mismatches {
			add(m.file, protoreflect.FullName(pkg), RuleAPIMismatch,
				fmt.Sprintf("declare the same version in every file of the package (or in one file only): %q", t.text),
				"api version %q differs from %q declared in %s", m.text, t.text, t.file)
		}
	}
	// since checks shared by fields, methods and enum values.
	checkSince := func(d protoreflect.Descriptor, since string) {
		if since == "" {
			return
		}
		file := d.ParentFile().Path()
		v, err := backport.ParseVersion(since)
		if err != nil {
			add(file, d.FullName(), RuleBadVersion, `write since as MAJOR.MINOR, e.g. since: "1.4"`,
				"since %q is not MAJOR.MINOR", since)
			return
		}
		t := s.trackOf(d)
		switch {
		case t == nil:
			add(file, d.FullName(), RuleSinceWithoutAPI,
				fmt.Sprintf(`declare the package's version in one of its files: option (rollpin.v1.api) = {version: %q};`, since),
				"since %q is set but package %s declares no api version", since, d.ParentFile().Package())
		case t.valid && t.version.Less(v):
			add(file, d.FullName(), RuleSinceAboveAPI,
				fmt.Sprintf("raise the api version of %s to %s in %s, or lower since", t.name, v, t.file),
				"since %s is above the api version %s of package %s", v, t.version, t.name)
		}
	}
	for _, name := range sortedKeys(s.messages) {
		md := s.messages[name]
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			o := fieldOptions(fd)
			checkSince(fd, o.GetSince())
			if o.GetDefault() == "" {
				continue
			}
			if o.GetSince() == "" {
				add(fd.ParentFile().Path(), fd.FullName(), RuleBadDefault,
					"add the since that introduced the field, or remove the default",
					"default %q never applies: the field has no since", o.GetDefault())
				continue
			}
			if _, err := parseDefault(fd, o.GetDefault()); err != nil {
				add(fd.ParentFile().Path(), fd.FullName(), RuleBadDefault, defaultFix(fd),
					"default does not parse: %v", err)
			}
		}
	}
	for _, name := range sortedKeys(s.enums) {
		ed := s.enums[name]
		for i := 0; i < ed.Values().Len(); i++ {
			vd := ed.Values().Get(i)
			o := enumValueOptions(vd)
			checkSince(vd, o.GetSince())
			if to := o.GetDowngradeTo(); to != "" {
				checkDowngradeTo(vd, o.GetSince(), to, add)
			}
		}
	}
	for _, name := range sortedKeys(s.services) {
		sd := s.services[name]
		for i := 0; i < sd.Methods().Len(); i++ {
			md := sd.Methods().Get(i)
			o := methodOptions(md)
			checkSince(md, o.GetSince())
		}
	}
	sortFindings(out)
	return out
}

func checkDowngradeTo(vd protoreflect.EnumValueDescriptor, since, to string,
	add func(string, protoreflect.FullName, Rule, string, string, ...any)) {
	file := vd.ParentFile().Path()
	ed := vd.Parent().(protoreflect.EnumDescriptor)
	if since == "" {
		add(file, vd.FullName(), RuleBadDowngradeTo, "add the since that introduced the value, or remove downgrade_to",
			"downgrade_to %q never applies: the value has no since", to)
		return
	}
	target := ed.Values().ByName(protoreflect.Name(to))
	if target == nil {
		add(file, vd.FullName(), RuleBadDowngradeTo,
			fmt.Sprintf("name a value of %s that an older peer knows", ed.FullName()),
			"downgrade_to %q names no value of enum %s", to, ed.FullName())
		return
	}
	v, err := backport.ParseVersion(since)
	if err != nil {
		return // reported as RuleBadVersion
	}
	to2 := enumValueOptions(target)
	if to2.GetSince() == "" {
		return // the target is as old as the enum
	}
	tv, err := backport.ParseVersion(to2.GetSince())
	if err != nil {
		return
	}
	if !tv.Less(v) {
		add(file, vd.FullName(), RuleBadDowngradeTo,
			fmt.Sprintf("name a value older than %s", v),
			"downgrade_to %q names a value added in %s, not older than this value's since %s", to, tv, v)
	}
}

func defaultFix(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsList() || fd.IsMap():
		return "remove the default: repeated and map fields are filled empty"
	case fd.Kind() == protoreflect.EnumKind:
		return fmt.Sprintf("write the name of a value of %s, e.g. default: %q", fd.Enum().FullName(), fd.Enum().Values().Get(0).Name())
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		return fmt.Sprintf("write protobuf text format for %s, e.g. default: \"name: 'x'\"", fd.Message().FullName())
	}
	return fmt.Sprintf("write a %s literal, e.g. default: %q", fd.Kind(), exampleScalar(fd.Kind()))
}

func exampleScalar(k protoreflect.Kind) string {
	switch k {
	case protoreflect.BoolKind:
		return "true"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "1.5"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "text"
	}
	return "42"
}

func sortedTrackNames(m map[string]*track) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
