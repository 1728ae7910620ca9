package backport

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// ErrSchema is wrapped by every error about invalid rollpin options in a
// schema (bad version text, conflicting package declarations, since above
// the package version, unknown downgrade_to, unparsable default).
var ErrSchema = errors.New("backport: invalid rollpin option")

// TrackOf returns the track a descriptor (message, enum, field, enum value,
// service, method, file) belongs to: the proto package of its file, when a
// file of that package declares option (rollpin.v1.api). v is the declared
// version; ok is false for an unversioned package.
//
// The declaration may sit in any file of the package. TrackOf looks in, in
// order: the descriptor's own file; protoregistry.GlobalFiles when it holds
// this very file; and otherwise the files reachable from it through
// imports. Use TrackOfIn to
// name the registry explicitly. Declarations that disagree, or version text
// that does not parse, are an error wrapping ErrSchema.
func TrackOf(d protoreflect.Descriptor) (track string, v Version, ok bool, err error) {
	return defaultEngine.trackOf(d)
}

// trackOf is TrackOf with package declarations found through e's files.
func (e *Engine) trackOf(d protoreflect.Descriptor) (string, Version, bool, error) {
	f := d.ParentFile()
	if f == nil {
		return "", Version{}, false, nil
	}
	return trackOfFile(e.registryHolding(f), f)
}

// TrackOfIn is TrackOf that finds the package's declarations in files (all
// files of the descriptor's package registered there, plus the descriptor's
// own file).
func TrackOfIn(files *protoregistry.Files, d protoreflect.Descriptor) (track string, v Version, ok bool, err error) {
	if files == nil {
		files = protoregistry.GlobalFiles
	}
	return trackOfFile(files, d.ParentFile())
}

// trackOfFile resolves the track of f from the files of its package in
// files; files nil means: from the files reachable from f through imports.
func trackOfFile(files *protoregistry.Files, f protoreflect.FileDescriptor) (string, Version, bool, error) {
	if f == nil {
		return "", Version{}, false, nil
	}
	pkg := f.Package()
	var decls []packageDecl
	seen := map[string]bool{}
	add := func(g protoreflect.FileDescriptor) {
		if g.Package() != pkg || seen[g.Path()] {
			return
		}
		seen[g.Path()] = true
		if o, present, err := resolveOption[*rollpinv1.ApiOptions](g.Options(), rollpinv1.E_Api); present || err != nil {
			decls = append(decls, packageDecl{file: g.Path(), text: o.GetVersion(), err: err})
		}
	}
	add(f)
	if files != nil {
		files.RangeFilesByPackage(pkg, func(g protoreflect.FileDescriptor) bool {
			add(g)
			return true
		})
	} else {
		walkImports(f, add)
	}
	return decideTrack(pkg, decls)
}

// walkImports calls fn for every file imported by f, transitively.
func walkImports(f protoreflect.FileDescriptor, fn func(protoreflect.FileDescriptor)) {
	seen := map[string]bool{f.Path(): true}
	var walk func(protoreflect.FileDescriptor)
	walk = func(f protoreflect.FileDescriptor) {
		imps := f.Imports()
		for i := 0; i < imps.Len(); i++ {
			g := imps.Get(i).FileDescriptor
			if g == nil || seen[g.Path()] {
				continue
			}
			seen[g.Path()] = true
			fn(g)
			walk(g)
		}
	}
	walk(f)
}

type packageDecl struct {
	file string
	text string
	err  error
}

// decideTrack turns the declarations found for pkg into its track. The
// errors are Violations: a version that is not MAJOR.MINOR, files that
// disagree (the highest valid version, first by path, is taken as meant and
// every other declaration is reported), a declaration without a package.
func decideTrack(pkg protoreflect.FullName, decls []packageDecl) (string, Version, bool, error) {
	if len(decls) == 0 {
		return "", Version{}, false, nil
	}
	decls = slices.Clone(decls)
	slices.SortStableFunc(decls, func(a, b packageDecl) int { return strings.Compare(a.file, b.file) })
	track := string(pkg)
	bad := func(file string, r Rule, fix, format string, args ...any) *Violation {
		return &Violation{File: file, Element: pkg, Rule: r, Message: fmt.Sprintf(format, args...), Fix: fix}
	}
	var errs []error
	versions := make([]Version, len(decls))
	valid := make([]bool, len(decls))
	ref := -1
	for i, d := range decls {
		if d.err != nil {
			errs = append(errs, bad(d.file, RuleOptionDecodes, "rebuild the descriptors from the .proto source",
				"file %s: (rollpin.v1.api) does not decode: %v", d.file, d.err))
			continue
		}
		v, err := ParseVersion(d.text)
		if err != nil {
			errs = append(errs, bad(d.file, RuleVersionSyntax,
				`write the version as MAJOR.MINOR, e.g. option (rollpin.v1.api) = {version: "1.0"};`,
				"file %s: (rollpin.v1.api).version %q is not MAJOR.MINOR", d.file, d.text))
			continue
		}
		versions[i], valid[i] = v, true
		if ref < 0 || versions[ref].Less(v) {
			ref = i
		}
	}
	for i, d := range decls {
		if valid[i] && ref >= 0 && versions[i] != versions[ref] {
			errs = append(errs, bad(d.file, RuleAPIAgree,
				fmt.Sprintf("declare the same version in every file of the package (or in one file only): %q", versions[ref].String()),
				"package %s: file %s declares version %s but file %s declares %s", pkg, decls[ref].file, versions[ref], d.file, versions[i]))
		}
	}
	if track == "" {
		errs = append(errs, bad(decls[0].file, RuleAPIPackage, "declare a package in the file, or remove (rollpin.v1.api)",
			"file %s declares (rollpin.v1.api) without a package", decls[0].file))
	} else if err := checkTrack(track); err != nil {
		errs = append(errs, bad(decls[0].file, RuleAPIPackage, "use a shorter package name", "package %s cannot be a track: %v", pkg, err))
	}
	var v Version
	if ref >= 0 {
		v = versions[ref]
	}
	if len(errs) > 0 {
		return track, v, false, errors.Join(errs...)
	}
	return track, v, true, nil
}

// MethodSince returns the since of a method's (rollpin.v1.method) option and
// the track of its service. ok is false when the method has no since. A since
// that does not parse, one on a method of an unversioned package, or one
// above the package version is an error wrapping ErrSchema (Violations).
func MethodSince(md protoreflect.MethodDescriptor) (since Version, track string, ok bool, err error) {
	return defaultEngine.MethodSince(md)
}

// MethodSince is the package-level MethodSince on e (package declarations
// are found through e's files).
func (e *Engine) MethodSince(md protoreflect.MethodDescriptor) (since Version, track string, ok bool, err error) {
	var pv Version
	var versioned bool
	if f := md.ParentFile(); f != nil {
		track, pv, versioned, err = trackOfFile(e.registryHolding(f), f)
	}
	since, ok, vs := checkMethod(md, trackInfo{track: track, version: pv, versioned: versioned, err: err})
	if len(vs) > 0 {
		errs := make([]error, len(vs))
		for i, v := range vs {
			errs[i] = v
		}
		return Version{}, track, false, errors.Join(errs...)
	}
	if err != nil {
		return Version{}, track, false, err
	}
	return since, track, ok, nil
}

// ReachableTracks returns, sorted, the tracks of md and of every message and
// enum reachable from it through its fields (cycles are handled). Tracks
// whose declarations are invalid are left out (CheckMessage reports them).
func ReachableTracks(md protoreflect.MessageDescriptor) []string {
	return defaultEngine.ReachableTracks(md)
}

// ReachableTracks is the package-level ReachableTracks with package
// declarations found through e's files.
func (e *Engine) ReachableTracks(md protoreflect.MessageDescriptor) []string {
	set := map[string]bool{}
	files := map[string]bool{}
	seen := map[protoreflect.FullName]bool{}
	addFile := func(f protoreflect.FileDescriptor) {
		if f == nil || files[f.Path()] {
			return
		}
		files[f.Path()] = true
		if t, _, ok, err := e.trackOf(f); ok && err == nil {
			set[t] = true
		}
	}
	var walk func(protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		addFile(md.ParentFile())
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			switch fd.Kind() {
			case protoreflect.MessageKind, protoreflect.GroupKind:
				walk(fd.Message())
			case protoreflect.EnumKind:
				addFile(fd.Enum().ParentFile())
			}
		}
	}
	walk(md)
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ManifestOfFiles returns the manifest of every track declared in files. A
// package whose declarations disagree or do not parse is left out of the
// manifest and reported in err (wrapping ErrSchema, naming the files); the
// manifest holds every other track.
func ManifestOfFiles(files *protoregistry.Files) (Manifest, error) {
	if files == nil {
		return Manifest{}, nil
	}
	byPkg := map[protoreflect.FullName][]packageDecl{}
	files.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if o, present, err := resolveOption[*rollpinv1.ApiOptions](f.Options(), rollpinv1.E_Api); present || err != nil {
			byPkg[f.Package()] = append(byPkg[f.Package()], packageDecl{file: f.Path(), text: o.GetVersion(), err: err})
		}
		return true
	})
	pkgs := make([]string, 0, len(byPkg))
	for p := range byPkg {
		pkgs = append(pkgs, string(p))
	}
	sort.Strings(pkgs)
	var es []Entry
	var errs []error
	for _, p := range pkgs {
		decls := byPkg[protoreflect.FullName(p)]
		sort.Slice(decls, func(i, j int) bool { return strings.Compare(decls[i].file, decls[j].file) < 0 })
		t, v, ok, err := decideTrack(protoreflect.FullName(p), decls)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			es = append(es, Entry{Track: t, Version: v})
		}
	}
	return Manifest{entries: es}, errors.Join(errs...)
}
