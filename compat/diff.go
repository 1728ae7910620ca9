package compat

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/backport"
)

// Check compares the current release's descriptors with the previous
// release's and returns every broken rule: Lint on cur plus Diff(prev, cur);
// with a nil prev (a first release), Lint on cur alone.
// prev and cur are descriptor sets or buf images (see ParseImage). An error
// means a set could not be linked, not that a rule is broken. Findings are
// sorted by file, element and rule. Findings in files that are not the
// author's to fix are left out: files a buf image marks as imports, and the
// well-known types (google/protobuf/).
func Check(prev, cur *descriptorpb.FileDescriptorSet) ([]Finding, error) {
	cf, err := NewFiles(cur)
	if err != nil {
		return nil, fmt.Errorf("compat: current: %w", err)
	}
	var all []Finding
	if prev == nil {
		all = Lint(cf)
	} else {
		pf, err := NewFiles(prev)
		if err != nil {
			return nil, fmt.Errorf("compat: previous: %w", err)
		}
		all = CheckFiles(pf, cf)
	}
	prevImports, curImports := imports(prev), imports(cur)
	var out []Finding
	for _, f := range all {
		in := curImports
		if f.Previous {
			in = prevImports
		}
		if !in[f.File] {
			out = append(out, f)
		}
	}
	return out, nil
}

// imports returns the files of set that are not the API author's to fix:
// files a buf image marks as imports, and the well-known types.
func imports(set *descriptorpb.FileDescriptorSet) map[string]bool {
	out := map[string]bool{}
	for _, f := range set.GetFile() {
		if strings.HasPrefix(f.GetName(), "google/protobuf/") || bufImport(f) {
			out[f.GetName()] = true
		}
	}
	return out
}

// bufImport reports whether a buf image marks f as an import: buf stores
// ImageFileExtension{is_import: true} (field 1) in field 8042 of each file.
func bufImport(f *descriptorpb.FileDescriptorProto) bool {
	const bufExtension = 8042
	raw := f.ProtoReflect().GetUnknown()
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return false
		}
		raw = raw[n:]
		if num == bufExtension && typ == protowire.BytesType {
			ext, m := protowire.ConsumeBytes(raw)
			if m < 0 {
				return false
			}
			for len(ext) > 0 {
				enum, etyp, k := protowire.ConsumeTag(ext)
				if k < 0 {
					return false
				}
				ext = ext[k:]
				if enum == 1 && etyp == protowire.VarintType {
					v, k := protowire.ConsumeVarint(ext)
					return k > 0 && v != 0
				}
				k = protowire.ConsumeFieldValue(enum, etyp, ext)
				if k < 0 {
					return false
				}
				ext = ext[k:]
			}
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, raw)
		if m < 0 {
			return false
		}
		raw = raw[m:]
	}
	return false
}

// CheckFiles is Check on linked registries.
func CheckFiles(prev, cur *protoregistry.Files) []Finding {
	out := append(Lint(cur), Diff(prev, cur)...)
	sortFindings(out)
	return out
}

// Diff applies the rules in DiffRules: what changed between the previous
// release and the current one. Added fields, enum values and methods of a
// track that existed (with a valid api version) in prev must carry a since
// above prev's track version and in the current major, and the track
// version must rise; a track's declaration is never dropped; existing
// elements keep their since, default, number, name, JSON name, oneof and
// type; methods keep their request and response types; an element may
// disappear only once it was deprecated in prev, and a field's or enum
// value's number must then be reserved. Elements
// of a new message, enum or service count as added. Findings are sorted by
// file, element and rule.
func Diff(prev, cur *protoregistry.Files) []Finding {
	d := &differ{prev: newSchema(prev), cur: newSchema(cur), grew: map[string][]addedElem{}}
	d.run()
	sortFindings(d.out)
	return d.out
}

type differ struct {
	prev, cur *schema
	grew      map[string][]addedElem // by track
	out       []Finding
}

func (d *differ) add(desc protoreflect.Descriptor, previous bool, r Rule, fix, format string, args ...any) {
	d.out = append(d.out, Finding{
		File: desc.ParentFile().Path(), Element: desc.FullName(), Rule: r,
		Message: fmt.Sprintf(format, args...), Fix: fix, Previous: previous,
	})
}

// pairByName matches the types of one kind (messages, enums or services) of
// the two releases by full name, in name order: a type only prev has is
// reported removed, one both have is compared with both, and one only cur
// has is passed to onlyCur (after every pair).
func pairByName[D protoreflect.Descriptor](d *differ, prev, cur map[protoreflect.FullName]D, both func(p, c D), onlyCur func(c D)) {
	for _, name := range sortedKeys(prev) {
		c, ok := cur[name]
		if !ok {
			d.removedType(prev[name])
			continue
		}
		both(prev[name], c)
	}
	for _, name := range sortedKeys(cur) {
		if _, ok := prev[name]; !ok {
			onlyCur(cur[name])
		}
	}
}

func (d *differ) run() {
	pairByName(d, d.prev.messages, d.cur.messages, d.fields, func(cm protoreflect.MessageDescriptor) {
		for i := 0; i < cm.Fields().Len(); i++ {
			fd := cm.Fields().Get(i)
			d.addedInNew(fd, d.fieldSince(fd), fieldSinceFix)
		}
	})
	pairByName(d, d.prev.enums, d.cur.enums, d.values, func(ce protoreflect.EnumDescriptor) {
		for i := 0; i < ce.Values().Len(); i++ {
			vd := ce.Values().Get(i)
			d.addedInNew(vd, d.valueSince(vd), valueSinceFix)
		}
	})
	pairByName(d, d.prev.services, d.cur.services, d.methods, func(cs protoreflect.ServiceDescriptor) {
		for i := 0; i < cs.Methods().Len(); i++ {
			md := cs.Methods().Get(i)
			d.added(md, d.methodSince(md), methodSinceFix)
		}
	})
	d.finish()
}

func (d *differ) fieldSince(fd protoreflect.FieldDescriptor) string {
	return fieldOptions(fd).GetSince()
}

func (d *differ) valueSince(vd protoreflect.EnumValueDescriptor) string {
	return enumValueOptions(vd).GetSince()
}

func (d *differ) methodSince(md protoreflect.MethodDescriptor) string {
	return methodOptions(md).GetSince()
}

func fieldSinceFix(v string) string {
	return fmt.Sprintf(`annotate it: [(rollpin.v1.field) = {since: %q}]`, v)
}

func valueSinceFix(v string) string {
	return fmt.Sprintf(`annotate it: [(rollpin.v1.enum_value) = {since: %q, downgrade_to: "<older value>"}]`, v)
}

func methodSinceFix(v string) string {
	return fmt.Sprintf(`annotate it: option (rollpin.v1.method) = {since: %q};`, v)
}

// addedElem is an element of cur that prev did not have.
type addedElem struct {
	desc  protoreflect.Descriptor
	since string
	fix   func(string) string
	// optional: a member of a new message or enum, which needs no since of
	// its own (only a new field or method can lead to its type, and that
	// one carries the since); a since it does carry must still be new.
	optional bool
}

// added records an element of cur that prev did not have; finish checks it
// once the track's versions are known.
func (d *differ) added(desc protoreflect.Descriptor, since string, fix func(string) string) {
	pkg := string(desc.ParentFile().Package())
	if !d.prev.tracks[pkg].versioned() || !d.cur.tracks[pkg].versioned() {
		return // a new or unversioned track: everything is at its first version
	}
	d.grew[pkg] = append(d.grew[pkg], addedElem{desc: desc, since: since, fix: fix})
}

// addedInNew is added for a member of a new message or enum.
func (d *differ) addedInNew(desc protoreflect.Descriptor, since string, fix func(string) string) {
	pkg := string(desc.ParentFile().Package())
	if !d.prev.tracks[pkg].versioned() || !d.cur.tracks[pkg].versioned() {
		return
	}
	d.grew[pkg] = append(d.grew[pkg], addedElem{desc: desc, since: since, fix: fix, optional: true})
}

// finish applies the track-level rules and checks the added elements of
// every track whose version rose. When a track's version did not rise, one
// finding names the track (the since of its added elements can only be
// judged against the new version); when it went backwards, that alone is
// reported.
func (d *differ) finish() {
	for _, pkg := range sortedTrackNames(d.prev.tracks) {
		if _, kept := d.cur.tracks[pkg]; kept {
			continue
		}
		pt := d.prev.tracks[pkg]
		for _, f := range d.cur.files {
			if string(f.Package()) != pkg {
				continue
			}
			fix := "restore the declaration in one file of the package"
			if pt.valid {
				fix = fmt.Sprintf(`restore option (rollpin.v1.api) = {version: %q}; (or higher) in one file of the package`, pt.version.String())
			}
			d.out = append(d.out, Finding{
				File: f.Path(), Element: protoreflect.FullName(pkg), Rule: RuleAPIDropped,
				Message: fmt.Sprintf("package %s declared api version %s in the previous release and declares none now: its fields are no longer downgraded and its additions go unchecked", pkg, pt.text),
				Fix:     fix,
			})
			break
		}
	}
	for _, pkg := range sortedTrackNames(d.cur.tracks) {
		ct, pt := d.cur.tracks[pkg], d.prev.tracks[pkg]
		if !ct.versioned() || !pt.versioned() {
			continue
		}
		elems := d.grew[pkg]
		switch c := ct.version.Compare(pt.version); {
		case c < 0:
			d.out = append(d.out, Finding{
				File: ct.file, Element: protoreflect.FullName(pkg), Rule: RuleAPIBackwards,
				Message: fmt.Sprintf("api version %s is below the previous release's %s", ct.version, pt.version),
				Fix:     fmt.Sprintf("set the api version to %s or higher: versions never go back", pt.version),
			})
		case c == 0 && len(elems) > 0:
			next := backport.Version{Major: pt.version.Major, Minor: pt.version.Minor + 1}
			names := make([]string, 0, len(elems))
			for _, e := range elems {
				names = append(names, string(e.desc.FullName()))
			}
			d.out = append(d.out, Finding{
				File: ct.file, Element: protoreflect.FullName(pkg), Rule: RuleAPINotRaised,
				Message: fmt.Sprintf("%d element(s) added but the api version stayed at %s: %s", len(elems), ct.version, strings.Join(names, ", ")),
				Fix:     fmt.Sprintf(`raise it: option (rollpin.v1.api) = {version: %q}; and give the added elements since: %q`, next, next),
			})
		case c > 0:
			for _, e := range elems {
				d.checkAdded(e, pt, ct)
			}
		}
	}
}

func (d *differ) checkAdded(e addedElem, pt, ct *track) {
	if e.since == "" {
		if e.optional {
			return
		}
		d.add(e.desc, false, RuleSinceMissing, e.fix(ct.version.String()),
			"added since the previous release (%s %s) without since", pt.name, pt.version)
		return
	}
	v, err := backport.ParseVersion(e.since)
	if err != nil {
		return // reported by Lint
	}
	switch {
	case !pt.version.Less(v):
		d.add(e.desc, false, RuleSinceNotNew, e.fix(ct.version.String()),
			"since %s is not above the previous release's %s %s: an old peer would be sent it", v, pt.name, pt.version)
	case v.Major < ct.version.Major:
		d.add(e.desc, false, RuleSinceOldMajor, e.fix(ct.version.String()),
			"since %s is in major %d, but %s moved to %s in this release: no %d.x release ever had it",
			v, v.Major, ct.name, ct.version, v.Major)
	}
}

// sinceChanged reports a changed since on an element present in both.
func (d *differ) sinceChanged(desc protoreflect.Descriptor, prevSince, curSince string) {
	if prevSince == curSince {
		return
	}
	pv, perr := backport.ParseVersion(prevSince)
	cv, cerr := backport.ParseVersion(curSince)
	if perr == nil && cerr == nil && pv == cv {
		return
	}
	show := func(s string) string {
		if s == "" {
			return "none"
		}
		return fmt.Sprintf("%q", s)
	}
	fix := fmt.Sprintf(`restore since: %q`, prevSince)
	if prevSince == "" {
		fix = "remove since: the element existed before it"
	}
	d.add(desc, false, RuleSinceChanged, fix,
		"since changed from %s to %s: peers would disagree on when it appeared", show(prevSince), show(curSince))
}

// removedType reports a message, enum or service of prev missing from cur.
func (d *differ) removedType(desc protoreflect.Descriptor) {
	if deprecated(desc) {
		return
	}
	if parent, ok := desc.Parent().(protoreflect.MessageDescriptor); ok {
		if _, kept := d.cur.messages[parent.FullName()]; !kept {
			return // reported with its parent
		}
	}
	d.add(desc, true, RuleRemoved,
		"restore it; mark it deprecated = true for one release before removing it",
		"removed without being deprecated in the previous release")
}

func (d *differ) fields(pm, cm protoreflect.MessageDescriptor) {
	for i := 0; i < pm.Fields().Len(); i++ {
		pf := pm.Fields().Get(i)
		cf := cm.Fields().ByNumber(pf.Number())
		if cf == nil {
			if byName := cm.Fields().ByName(pf.Name()); byName != nil {
				d.add(byName, false, RuleRenumbered, fmt.Sprintf("give it back number %d", pf.Number()),
					"number changed from %d to %d", pf.Number(), byName.Number())
				continue
			}
			switch {
			case !deprecated(pf):
				d.add(pf, true, RuleRemoved,
					fmt.Sprintf("restore field %d; mark it [deprecated = true] for one release before removing it", pf.Number()),
					"field %d removed without being deprecated in the previous release", pf.Number())
			case !reservedNumber(cm.ReservedRanges(), pf.Number()):
				d.add(pf, true, RuleNotReserved,
					fmt.Sprintf("add `reserved %d;` (and `reserved %q;`) to %s", pf.Number(), pf.Name(), cm.FullName()),
					"field %d removed but its number is not reserved", pf.Number())
			}
			continue
		}
		if why := retyped(pf, cf); why != "" {
			d.add(cf, false, RuleRetyped, "restore the previous type; add a new field for the new type", "%s", why)
		}
		switch {
		case pf.Name() != cf.Name():
			d.add(cf, false, RuleNumberReused,
				fmt.Sprintf("restore %s = %d; add %s under a new number (with since), and reserve %d and %q only once %s is removed",
					pf.Name(), pf.Number(), cf.Name(), pf.Number(), pf.Name(), pf.Name()),
				"field %d was %s in the previous release and is %s now: an old peer's %s is read as %s, and JSON and text peers use the other name",
				pf.Number(), pf.Name(), cf.Name(), pf.Name(), cf.Name())
		case pf.JSONName() != cf.JSONName():
			d.add(cf, false, RuleJSONName, fmt.Sprintf("restore json_name %q", pf.JSONName()),
				"JSON name changed from %q to %q: JSON peers of the previous release send and expect %q", pf.JSONName(), cf.JSONName(), pf.JSONName())
		}
		if po, co := realOneof(pf), realOneof(cf); po != co {
			d.add(cf, false, RuleSameOneof, "restore the field's place; add a new field (with since) where you want it",
				"%s: an old peer would %s", oneofMove(po, co), oneofHarm(po, co))
		}
		d.sinceChanged(cf, d.fieldSince(pf), d.fieldSince(cf))
		d.defaultChanged(pf, cf)
	}
	for i := 0; i < cm.Fields().Len(); i++ {
		cf := cm.Fields().Get(i)
		if pm.Fields().ByNumber(cf.Number()) == nil && pm.Fields().ByName(cf.Name()) == nil {
			d.added(cf, d.fieldSince(cf), fieldSinceFix)
		}
	}
}

func (d *differ) values(pe, ce protoreflect.EnumDescriptor) {
	for i := 0; i < pe.Values().Len(); i++ {
		pv := pe.Values().Get(i)
		cv := ce.Values().ByName(pv.Name())
		if cv == nil {
			if cur := ce.Values().ByNumber(pv.Number()); cur != nil {
				// Renamed: the same on the wire, but JSON and text peers
				// send and expect the old name.
				d.add(cur, false, RuleEnumValueName,
					fmt.Sprintf("keep %s as an alias of %s (option allow_alias = true;), or restore the name", pv.Name(), cur.Name()),
					"enum value %d was %s in the previous release: JSON and text peers of that release send and expect %s",
					pv.Number(), pv.Name(), pv.Name())
				d.sinceChanged(cur, d.valueSince(pv), d.valueSince(cur))
				continue
			}
			switch {
			case !deprecated(pv):
				d.add(pv, true, RuleRemoved,
					fmt.Sprintf("restore %s = %d; mark it [deprecated = true] for one release before removing it", pv.Name(), pv.Number()),
					"enum value %d removed without being deprecated in the previous release", pv.Number())
			case !ce.ReservedRanges().Has(pv.Number()):
				d.add(pv, true, RuleNotReserved,
					fmt.Sprintf("add `reserved %d;` (and `reserved %q;`) to %s", pv.Number(), pv.Name(), ce.FullName()),
					"enum value %d removed but its number is not reserved", pv.Number())
			}
			continue
		}
		if cv.Number() != pv.Number() {
			d.add(cv, false, RuleRenumbered, fmt.Sprintf("give it back number %d", pv.Number()),
				"number changed from %d to %d", pv.Number(), cv.Number())
			continue
		}
		d.sinceChanged(cv, d.valueSince(pv), d.valueSince(cv))
	}
	for i := 0; i < ce.Values().Len(); i++ {
		cv := ce.Values().Get(i)
		if pe.Values().ByNumber(cv.Number()) == nil && pe.Values().ByName(cv.Name()) == nil {
			d.added(cv, d.valueSince(cv), valueSinceFix)
		}
	}
}

func (d *differ) methods(ps, cs protoreflect.ServiceDescriptor) {
	for i := 0; i < ps.Methods().Len(); i++ {
		pm := ps.Methods().Get(i)
		cm := cs.Methods().ByName(pm.Name())
		if cm == nil {
			if !deprecated(pm) {
				d.add(pm, true, RuleRemoved,
					"restore the method; mark it option deprecated = true; for one release before removing it",
					"method removed without being deprecated in the previous release")
			}
			continue
		}
		switch {
		case pm.Input().FullName() != cm.Input().FullName():
			d.add(cm, false, RuleMethodType, fmt.Sprintf("restore request type %s; add a new method for the new type", pm.Input().FullName()),
				"request type changed from %s to %s", pm.Input().FullName(), cm.Input().FullName())
		case pm.Output().FullName() != cm.Output().FullName():
			d.add(cm, false, RuleMethodType, fmt.Sprintf("restore response type %s; add a new method for the new type", pm.Output().FullName()),
				"response type changed from %s to %s", pm.Output().FullName(), cm.Output().FullName())
		case pm.IsStreamingClient() != cm.IsStreamingClient() || pm.IsStreamingServer() != cm.IsStreamingServer():
			d.add(cm, false, RuleMethodType, "restore the previous streaming; add a new method for the new shape",
				"streaming changed from %s to %s", streaming(pm), streaming(cm))
		}
		d.sinceChanged(cm, d.methodSince(pm), d.methodSince(cm))
	}
	for i := 0; i < cs.Methods().Len(); i++ {
		cm := cs.Methods().Get(i)
		if ps.Methods().ByName(cm.Name()) == nil {
			d.added(cm, d.methodSince(cm), methodSinceFix)
		}
	}
}

// realOneof returns the name of the oneof fd belongs to ("" for none; the
// synthetic oneof of a proto3 optional field counts as none: presence
// changes are wire and JSON compatible).
func realOneof(fd protoreflect.FieldDescriptor) protoreflect.Name {
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		return od.Name()
	}
	return ""
}

func oneofMove(from, to protoreflect.Name) string {
	switch {
	case from == "":
		return fmt.Sprintf("moved into oneof %s", to)
	case to == "":
		return fmt.Sprintf("moved out of oneof %s", from)
	}
	return fmt.Sprintf("moved from oneof %s to oneof %s", from, to)
}

func oneofHarm(from, to protoreflect.Name) string {
	if from == "" {
		return "set it next to another member, and the receiver keeps only one of them"
	}
	return "clear it when it sets another member of the oneof, or the receiver keeps both"
}

// defaultChanged reports a changed default on a field that has a since in
// both releases (a default without since is a lint finding). Defaults are
// compared as values, so "1.5" and "1.50" are the same double.
func (d *differ) defaultChanged(pf, cf protoreflect.FieldDescriptor) {
	po, co := fieldOptions(pf), fieldOptions(cf)
	if po.GetSince() == "" || co.GetSince() == "" {
		return
	}
	pd, cd := po.GetDefault(), co.GetDefault()
	if pd == cd || sameDefault(pf, cf, pd, cd) {
		return
	}
	show := func(s string) string {
		if s == "" {
			return "none"
		}
		return fmt.Sprintf("%q", s)
	}
	fix := fmt.Sprintf("restore default: %q", pd)
	if pd == "" {
		fix = "remove the default"
	}
	d.add(cf, false, RuleDefaultChanged,
		fix+fmt.Sprintf("; if the change is meant, allow %s for this release", RuleDefaultChanged),
		"default changed from %s to %s: receivers of the two releases fill a request from a sender before %s differently",
		show(pd), show(cd), po.GetSince())
}

func sameDefault(pf, cf protoreflect.FieldDescriptor, pd, cd string) bool {
	if pd == "" || cd == "" {
		return false
	}
	pv, perr := backport.ParseDefault(pf, pd)
	cv, cerr := backport.ParseDefault(cf, cd)
	if perr != nil || cerr != nil {
		return false
	}
	if pf.Message() != nil || cf.Message() != nil {
		if pf.Message() == nil || cf.Message() == nil {
			return false
		}
		pb, err1 := proto.MarshalOptions{Deterministic: true}.Marshal(pv.Message().Interface())
		cb, err2 := proto.MarshalOptions{Deterministic: true}.Marshal(cv.Message().Interface())
		return err1 == nil && err2 == nil && string(pb) == string(cb)
	}
	if pf.Kind() != cf.Kind() {
		return false
	}
	return pv.Equal(cv)
}

func streaming(md protoreflect.MethodDescriptor) string {
	switch {
	case md.IsStreamingClient() && md.IsStreamingServer():
		return "bidirectional"
	case md.IsStreamingClient():
		return "client streaming"
	case md.IsStreamingServer():
		return "server streaming"
	}
	return "unary"
}

// retyped says how a field's type changed, or "" when it did not.
func retyped(pf, cf protoreflect.FieldDescriptor) string {
	desc := func(fd protoreflect.FieldDescriptor) string {
		var t string
		switch {
		case fd.IsMap():
			return fmt.Sprintf("map<%s, %s>", typeName(fd.MapKey()), typeName(fd.MapValue()))
		default:
			t = typeName(fd)
		}
		if fd.IsList() {
			return "repeated " + t
		}
		return t
	}
	if p, c := desc(pf), desc(cf); p != c {
		return fmt.Sprintf("type changed from %s to %s", p, c)
	}
	if (pf.Cardinality() == protoreflect.Required) != (cf.Cardinality() == protoreflect.Required) {
		return fmt.Sprintf("cardinality changed from %s to %s", pf.Cardinality(), cf.Cardinality())
	}
	return ""
}

func typeName(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(fd.Message().FullName())
	case protoreflect.EnumKind:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

func reservedNumber(rs protoreflect.FieldRanges, n protoreflect.FieldNumber) bool { return rs.Has(n) }

// deprecated reports whether desc carries deprecated = true.
func deprecated(desc protoreflect.Descriptor) bool {
	opts := desc.Options()
	if opts == nil {
		return false
	}
	type dep interface{ GetDeprecated() bool }
	if o, ok := opts.(dep); ok {
		return o.GetDeprecated()
	}
	// dynamicpb options: read the field by name.
	m := opts.ProtoReflect()
	if fd := m.Descriptor().Fields().ByName("deprecated"); fd != nil && m.Has(fd) {
		return m.Get(fd).Bool()
	}
	return false
}
