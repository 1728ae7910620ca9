package backport

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Rule names one rule about what a rollpin annotation may say. These rules
// exist once, here: the engine applies them when it compiles a plan, and
// CheckAnnotations (which package compat, pindctl check and
// buf-plugin-rollpin report) applies the very same functions, so a schema
// that lint accepts is one the engine compiles, and the other way round.
// Rule values are stable: they are the rule IDs tools print.
type Rule string

// The annotation rules.
const (
	// RuleVersionSyntax: an api version or a since is not MAJOR.MINOR.
	RuleVersionSyntax Rule = "ROLLPIN_VERSION_SYNTAX"
	// RuleAPIAgree: files of one package declare different api versions.
	RuleAPIAgree Rule = "ROLLPIN_API_VERSION_AGREE"
	// RuleAPIPackage: (rollpin.v1.api) in a file whose package cannot be a
	// track (no package, or a name too long to be one).
	RuleAPIPackage Rule = "ROLLPIN_API_NEEDS_PACKAGE"
	// RuleSinceNotAboveAPI: a since is above its package's api version.
	RuleSinceNotAboveAPI Rule = "ROLLPIN_SINCE_NOT_ABOVE_API"
	// RuleSinceNeedsAPI: a since in a package that declares no api version.
	RuleSinceNeedsAPI Rule = "ROLLPIN_SINCE_NEEDS_API"
	// RuleOnDowngradeValid: an on_downgrade on a field without since, or a
	// value the engine does not know.
	RuleOnDowngradeValid Rule = "ROLLPIN_ON_DOWNGRADE_VALID"
	// RuleDefaultValid: a default that does not parse for its field, sits on
	// a repeated or map field, or can never apply (no since).
	RuleDefaultValid Rule = "ROLLPIN_DEFAULT_VALID"
	// RuleDowngradeToValid: a downgrade_to that names no older value of the
	// same enum, or sits on a value without since.
	RuleDowngradeToValid Rule = "ROLLPIN_DOWNGRADE_TO_VALID"
	// RuleOptionDecodes: the bytes of a rollpin option do not decode.
	RuleOptionDecodes Rule = "ROLLPIN_OPTION_DECODES"
)

// Rules returns the annotation rules in a stable order.
func Rules() []Rule {
	return []Rule{
		RuleVersionSyntax, RuleAPIAgree, RuleAPIPackage, RuleSinceNotAboveAPI, RuleSinceNeedsAPI,
		RuleOnDowngradeValid, RuleDefaultValid, RuleDowngradeToValid, RuleOptionDecodes,
	}
}

// Violation is one broken annotation rule: the schema errors of the engine
// (CheckMessage, MethodSince, TrackOf, Downgrade on an invalid type) are
// Violations, joined with errors.Join, and CheckAnnotations returns them
// one by one. A Violation wraps ErrSchema.
type Violation struct {
	// File is the path of the file holding Element.
	File string
	// Element is the full name of the field, enum value or method, or the
	// package for rules about a package's api declaration.
	Element protoreflect.FullName
	// Rule is the rule broken.
	Rule Rule
	// Message says what is wrong.
	Message string
	// Fix says how to repair it.
	Fix string
}

// Error renders the violation; it is safe on a nil *Violation.
func (v *Violation) Error() string {
	if v == nil {
		return "backport: <nil Violation>"
	}
	return fmt.Sprintf("%v: %s: %s (%s)", ErrSchema, v.Element, v.Message, v.Rule)
}

// Unwrap returns ErrSchema.
func (v *Violation) Unwrap() error { return ErrSchema }

// CheckAnnotations applies every annotation rule to every file in files:
// the package declarations, and the options of every field, enum value and
// method, with the same functions the engine compiles plans with. Files of
// one package find each other's declarations in files. The result is sorted
// by file, element and rule; it is empty when the engine compiles every
// message of files.
func CheckAnnotations(files *protoregistry.Files) []*Violation {
	if files == nil {
		return nil
	}
	var all []protoreflect.FileDescriptor
	files.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		all = append(all, f)
		return true
	})
	slices.SortFunc(all, func(a, b protoreflect.FileDescriptor) int { return cmp.Compare(a.Path(), b.Path()) })
	var out []*Violation
	seen := map[string]bool{}
	add := func(vs ...*Violation) {
		for _, v := range vs {
			if k := v.Error() + "\x00" + v.File; !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
	}
	tracks := map[protoreflect.FullName]trackInfo{}
	for _, f := range all {
		ti, ok := tracks[f.Package()]
		if !ok {
			t, v, versioned, err := trackOfFile(files, f)
			ti = trackInfo{track: t, version: v, versioned: versioned, err: err}
			tracks[f.Package()] = ti
			add(violationsOf(err)...)
		}
		var messages func(protoreflect.MessageDescriptors)
		enums := func(es protoreflect.EnumDescriptors) {
			for i := 0; i < es.Len(); i++ {
				vals := es.Get(i).Values()
				for j := 0; j < vals.Len(); j++ {
					_, vs := checkEnumValue(vals.Get(j), ti)
					add(vs...)
				}
			}
		}
		messages = func(ms protoreflect.MessageDescriptors) {
			for i := 0; i < ms.Len(); i++ {
				md := ms.Get(i)
				for j := 0; j < md.Fields().Len(); j++ {
					_, vs := checkField(md.Fields().Get(j), ti)
					add(vs...)
				}
				messages(md.Messages())
				enums(md.Enums())
			}
		}
		messages(f.Messages())
		enums(f.Enums())
		for i := 0; i < f.Services().Len(); i++ {
			ms := f.Services().Get(i).Methods()
			for j := 0; j < ms.Len(); j++ {
				_, _, vs := checkMethod(ms.Get(j), ti)
				add(vs...)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *Violation) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Element, b.Element), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

// violationsOf returns the Violations in err (a Violation or a join of
// them).
func violationsOf(err error) []*Violation {
	if err == nil {
		return nil
	}
	if v, ok := err.(*Violation); ok {
		return []*Violation{v}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Violation
		for _, e := range j.Unwrap() {
			out = append(out, violationsOf(e)...)
		}
		return out
	}
	return nil
}

func violation(d protoreflect.Descriptor, r Rule, fix, format string, args ...any) *Violation {
	return &Violation{File: d.ParentFile().Path(), Element: d.FullName(), Rule: r, Message: fmt.Sprintf(format, args...), Fix: fix}
}

// checkSince applies the rules every since obeys: its syntax, and its
// place relative to the package's declaration. ok is false when since is
// not usable.
func checkSince(d protoreflect.Descriptor, text string, ti trackInfo) (since Version, ok bool, vs []*Violation) {
	since, err := ParseVersion(text)
	if err != nil {
		return Version{}, false, []*Violation{violation(d, RuleVersionSyntax, `write since as MAJOR.MINOR, e.g. since: "1.4"`,
			"since %q is not MAJOR.MINOR", text)}
	}
	switch {
	case ti.err != nil:
		return since, false, nil // the declaration's own violation says why
	case !ti.versioned:
		return since, false, []*Violation{violation(d, RuleSinceNeedsAPI,
			fmt.Sprintf(`declare the package's version in one of its files: option (rollpin.v1.api) = {version: %q};`, since.String()),
			"since %s, but package %s declares no (rollpin.v1.api) version", since, d.ParentFile().Package())}
	case ti.version.Less(since):
		return since, false, []*Violation{violation(d, RuleSinceNotAboveAPI,
			fmt.Sprintf("raise the api version of %s to %s, or lower since", ti.track, since),
			"since %s is above the package version %s", since, ti.version)}
	}
	return since, true, nil
}

// fieldAnnotation is what the engine takes from a valid field annotation.
type fieldAnnotation struct {
	hasSince   bool
	since      Version
	action     rollpinv1.OnDowngrade
	hasDefault bool
	defVal     protoreflect.Value // scalar and enum defaults
	defMsg     []byte             // message defaults, in wire form
}

// checkField applies the field rules to fd's (rollpin.v1.field) option in a
// package whose declaration is ti. The annotation is zero when any rule is
// broken.
func checkField(fd protoreflect.FieldDescriptor, ti trackInfo) (fieldAnnotation, []*Violation) {
	o, present, err := resolveOption[*rollpinv1.FieldOptions](fd.Options(), rollpinv1.E_Field)
	if err != nil {
		return fieldAnnotation{}, []*Violation{violation(fd, RuleOptionDecodes,
			"rebuild the descriptors from the .proto source", "(rollpin.v1.field) does not decode: %v", err)}
	}
	if !present {
		return fieldAnnotation{}, nil
	}
	var vs []*Violation
	if o.GetSince() == "" {
		if a := o.GetOnDowngrade(); a != rollpinv1.OnDowngrade_ON_DOWNGRADE_UNSPECIFIED {
			vs = append(vs, violation(fd, RuleOnDowngradeValid,
				"add the since that introduced the field, or remove on_downgrade",
				"on_downgrade %s without since: the engine refuses the message", a))
		}
		if d := o.GetDefault(); d != "" {
			vs = append(vs, violation(fd, RuleDefaultValid,
				"add the since that introduced the field, or remove the default",
				"default %q without since: it never applies and the engine refuses the message", d))
		}
		return fieldAnnotation{}, vs
	}
	since, sinceOK, svs := checkSince(fd, o.GetSince(), ti)
	vs = append(vs, svs...)
	a := fieldAnnotation{hasSince: true, since: since, action: o.GetOnDowngrade()}
	switch a.action {
	case rollpinv1.OnDowngrade_ON_DOWNGRADE_UNSPECIFIED, rollpinv1.OnDowngrade_ON_DOWNGRADE_DROP,
		rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT, rollpinv1.OnDowngrade_ON_DOWNGRADE_CUSTOM:
	default:
		vs = append(vs, violation(fd, RuleOnDowngradeValid,
			"use ON_DOWNGRADE_DROP, ON_DOWNGRADE_REJECT or ON_DOWNGRADE_CUSTOM",
			"unknown on_downgrade value %d", int32(a.action)))
	}
	if text := o.GetDefault(); text != "" {
		v, msg, err := parseDefault(fd, text)
		if err != nil {
			vs = append(vs, violation(fd, RuleDefaultValid, defaultFix(fd), "default %q: %v", text, err))
		} else {
			a.hasDefault, a.defVal, a.defMsg = true, v, msg
		}
	}
	if len(vs) > 0 || !sinceOK {
		return fieldAnnotation{}, vs
	}
	return a, nil
}

// valueAnnotation is what the engine takes from a valid enum value
// annotation.
type valueAnnotation struct {
	hasSince bool
	since    Version
	hasTo    bool
	to       protoreflect.EnumNumber
}

// checkEnumValue applies the enum value rules to ev's
// (rollpin.v1.enum_value) option in a package whose declaration is ti. The
// annotation is zero when any rule is broken.
func checkEnumValue(ev protoreflect.EnumValueDescriptor, ti trackInfo) (valueAnnotation, []*Violation) {
	o, present, err := resolveOption[*rollpinv1.EnumValueOptions](ev.Options(), rollpinv1.E_EnumValue)
	if err != nil {
		return valueAnnotation{}, []*Violation{violation(ev, RuleOptionDecodes,
			"rebuild the descriptors from the .proto source", "(rollpin.v1.enum_value) does not decode: %v", err)}
	}
	if !present {
		return valueAnnotation{}, nil
	}
	to := o.GetDowngradeTo()
	if o.GetSince() == "" {
		if to != "" {
			return valueAnnotation{}, []*Violation{violation(ev, RuleDowngradeToValid,
				"add the since that introduced the value, or remove downgrade_to",
				"downgrade_to %q without since: it never applies and the engine refuses the enum", to)}
		}
		return valueAnnotation{}, nil
	}
	since, sinceOK, vs := checkSince(ev, o.GetSince(), ti)
	a := valueAnnotation{hasSince: true, since: since}
	if to != "" {
		ed := ev.Parent().(protoreflect.EnumDescriptor)
		tv := ed.Values().ByName(protoreflect.Name(to))
		switch {
		case tv == nil:
			vs = append(vs, violation(ev, RuleDowngradeToValid,
				fmt.Sprintf("name a value of %s that an older peer knows", ed.FullName()),
				"downgrade_to %q: enum %s has no such value", to, ed.FullName()))
		case tv.Number() == ev.Number():
			vs = append(vs, violation(ev, RuleDowngradeToValid,
				fmt.Sprintf("name a value of %s that an older peer knows", ed.FullName()),
				"downgrade_to %q names the value itself", to))
		default:
			if tOpts, ok := EnumValueOptions(tv); ok && tOpts.GetSince() != "" {
				if ts, err := ParseVersion(tOpts.GetSince()); err == nil && !ts.Less(since) {
					vs = append(vs, violation(ev, RuleDowngradeToValid,
						fmt.Sprintf("name a value older than %s", since),
						"downgrade_to %s was added in %s, not before this value's %s", tv.Name(), ts, since))
				}
			}
			a.hasTo, a.to = true, tv.Number()
		}
	}
	if len(vs) > 0 || !sinceOK {
		return valueAnnotation{}, vs
	}
	return a, nil
}

// checkMethod applies the method rules to md's (rollpin.v1.method) option
// in a package whose declaration is ti. ok is false when the method has no
// usable since.
func checkMethod(md protoreflect.MethodDescriptor, ti trackInfo) (since Version, ok bool, vs []*Violation) {
	o, present, err := resolveOption[*rollpinv1.MethodOptions](md.Options(), rollpinv1.E_Method)
	if err != nil {
		return Version{}, false, []*Violation{violation(md, RuleOptionDecodes,
			"rebuild the descriptors from the .proto source", "(rollpin.v1.method) does not decode: %v", err)}
	}
	if !present || o.GetSince() == "" {
		return Version{}, false, nil
	}
	since, ok, vs = checkSince(md, o.GetSince(), ti)
	if !ok {
		return Version{}, false, vs
	}
	return since, true, nil
}

// ParseDefault parses the text of a field's default option into the value a
// receiver fills, by the rules the engine applies: "true" or "false" for
// bool; a decimal integer in range for integer kinds; for float and double,
// what strconv.ParseFloat accepts in range (including "inf", "-Infinity"
// and "nan" in any case); any valid UTF-8 for string; any text for bytes;
// a value name for enums; protobuf text format for messages (returned as a
// dynamicpb message). Repeated and map fields take no default.
func ParseDefault(fd protoreflect.FieldDescriptor, text string) (protoreflect.Value, error) {
	v, b, err := parseDefault(fd, text)
	if err != nil || b == nil && fd.Message() == nil {
		return v, err
	}
	m := dynamicpb.NewMessage(fd.Message())
	if err := proto.Unmarshal(b, m); err != nil {
		return protoreflect.Value{}, err
	}
	return protoreflect.ValueOfMessage(m), nil
}

// parseDefault parses a field's declared default: scalar text, an enum value
// name, or protobuf text format for a message (returned in wire form).
func parseDefault(fd protoreflect.FieldDescriptor, text string) (protoreflect.Value, []byte, error) {
	if fd.IsList() || fd.IsMap() {
		return protoreflect.Value{}, nil, errors.New("defaults are supported on singular fields only")
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		switch text {
		case "true":
			return protoreflect.ValueOfBool(true), nil, nil
		case "false":
			return protoreflect.ValueOfBool(false), nil, nil
		}
		return protoreflect.Value{}, nil, errors.New(`want "true" or "false"`)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		v, err := strconv.ParseInt(text, 10, 32)
		if err != nil {
			return protoreflect.Value{}, nil, errors.New("not a 32-bit integer")
		}
		return protoreflect.ValueOfInt32(int32(v)), nil, nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return protoreflect.Value{}, nil, errors.New("not a 64-bit integer")
		}
		return protoreflect.ValueOfInt64(v), nil, nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		v, err := strconv.ParseUint(text, 10, 32)
		if err != nil {
			return protoreflect.Value{}, nil, errors.New("not an unsigned 32-bit integer")
		}
		return protoreflect.ValueOfUint32(uint32(v)), nil, nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		v, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return protoreflect.Value{}, nil, errors.New("not an unsigned 64-bit integer")
		}
		return protoreflect.ValueOfUint64(v), nil, nil
	case protoreflect.FloatKind:
		v, err := parseFloat(text, 32)
		if err != nil {
			return protoreflect.Value{}, nil, err
		}
		return protoreflect.ValueOfFloat32(float32(v)), nil, nil
	case protoreflect.DoubleKind:
		v, err := parseFloat(text, 64)
		if err != nil {
			return protoreflect.Value{}, nil, err
		}
		return protoreflect.ValueOfFloat64(v), nil, nil
	case protoreflect.StringKind:
		if !utf8.ValidString(text) {
			return protoreflect.Value{}, nil, errors.New("not valid UTF-8")
		}
		return protoreflect.ValueOfString(text), nil, nil
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(text)), nil, nil
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByName(protoreflect.Name(text))
		if ev == nil {
			return protoreflect.Value{}, nil, fmt.Errorf("enum %s has no value named %q", fd.Enum().FullName(), text)
		}
		return protoreflect.ValueOfEnum(ev.Number()), nil, nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		m := dynamicpb.NewMessage(fd.Message())
		if err := prototext.Unmarshal([]byte(text), m); err != nil {
			return protoreflect.Value{}, nil, fmt.Errorf("not %s in protobuf text format: %v", fd.Message().FullName(), err)
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return protoreflect.Value{}, nil, fmt.Errorf("%s in text format does not encode: %v", fd.Message().FullName(), err)
		}
		if b == nil {
			b = []byte{}
		}
		return protoreflect.Value{}, b, nil
	}
	return protoreflect.Value{}, nil, fmt.Errorf("unsupported kind %s", fd.Kind())
}

// parseFloat reads a float or double default: what strconv.ParseFloat
// accepts, infinities and NaN included, but not a finite number out of the
// kind's range.
func parseFloat(text string, bits int) (float64, error) {
	v, err := strconv.ParseFloat(text, bits)
	kind := "double"
	if bits == 32 {
		kind = "float"
	}
	var ne *strconv.NumError
	switch {
	case errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) && math.IsInf(v, 0):
		return 0, fmt.Errorf("%s out of the range of a %s", text, kind)
	case err != nil:
		return 0, fmt.Errorf(`not a %s: write a decimal number such as "1.5", or "inf", "-inf", "nan"`, kind)
	}
	return v, nil
}

// defaultFix says how to write a default for fd.
func defaultFix(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsList() || fd.IsMap():
		return "remove the default: repeated and map fields are filled empty"
	case fd.Kind() == protoreflect.EnumKind:
		return fmt.Sprintf("write the name of a value of %s, e.g. default: %q", fd.Enum().FullName(), fd.Enum().Values().Get(0).Name())
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		return fmt.Sprintf("write protobuf text format for %s, e.g. default: \"name: 'x'\"", fd.Message().FullName())
	}
	ex := "42"
	switch fd.Kind() {
	case protoreflect.BoolKind:
		ex = "true"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		ex = "1.5"
	case protoreflect.StringKind, protoreflect.BytesKind:
		ex = "text"
	}
	return fmt.Sprintf("write a %s literal, e.g. default: %q", fd.Kind(), ex)
}
