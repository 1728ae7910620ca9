package backport

import (
	"errors"
	"fmt"
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

// decideTrack turns the declarations found for pkg into its track.
func decideTrack(pkg protoreflect.FullName, decls []packageDecl) (string, Version, bool, error) {
	if len(decls) == 0 {
		return "", Version{}, false, nil
	}
	track := string(pkg)
	var errs []error
	var v Version
	first := ""
	for _, d := range decls {
		if d.err != nil {
			errs = append(errs, fmt.Errorf("%w: file %s: (rollpin.v1.api): %w", ErrSchema, d.file, d.err))
			continue
		}
		dv, err := ParseVersion(d.text)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: file %s: (rollpin.v1.api).version: %w", ErrSchema, d.file, err))
			continue
		}
		if first == "" {
			v, first = dv, d.file
			continue
		}
		if dv != v {
			errs = append(errs, fmt.Errorf("%w: package %s: file %s declares version %s but file %s declares %s",
				ErrSchema, pkg, first, v, d.file, dv))
		}
	}
	if track == "" {
		errs = append(errs, fmt.Errorf("%w: file %s declares (rollpin.v1.api) without a package", ErrSchema, decls[0].file))
	}
	if len(errs) > 0 {
		return track, v, false, errors.Join(errs...)
	}
	return track, v, true, nil
}

// MethodSince returns the since of a method's (rollpin.v1.method) option and
// the track of its service. ok is false when the method has no since. A since
// that does not parse, one on a method of an unversioned package, or one
// above the package version is an error wrapping ErrSchema.
func MethodSince(md protoreflect.MethodDescriptor) (since Version, track string, ok bool, err error) {
	return defaultEngine.MethodSince(md)
}

// MethodSince is the package-level MethodSince with package declarations
// found through e's files.
func (e *Engine) MethodSince(md protoreflect.MethodDescriptor) (since Version, track string, ok bool, err error) {
	o, present, rerr := resolveOption[*rollpinv1.MethodOptions](md.Options(), rollpinv1.E_Method)
	if rerr != nil {
		return Version{}, "", false, fmt.Errorf("%w: method %s: %w", ErrSchema, md.FullName(), rerr)
	}
	track, pv, versioned, err := e.trackOf(md)
	if err != nil {
		return Version{}, track, false, err
	}
	if !present || o.GetSince() == "" {
		return Version{}, track, false, nil
	}
	since, err = ParseVersion(o.GetSince())
	if err != nil {
		return Version{}, track, false, fmt.Errorf("%w: method %s: since: %w", ErrSchema, md.FullName(), err)
	}
	if !versioned {
		return Version{}, "", false, fmt.Errorf("%w: method %s: since %s, but package %s declares no (rollpin.v1.api) version",
			ErrSchema, md.FullName(), since, md.ParentFile().Package())
	}
	if pv.Less(since) {
		return Version{}, track, false, fmt.Errorf("%w: method %s: since %s is above the package version %s",
			ErrSchema, md.FullName(), since, pv)
	}
	return since, track, true, nil
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
			if cerr := checkTrack(t); cerr != nil {
				errs = append(errs, fmt.Errorf("%w: package %s: %v", ErrSchema, p, cerr))
				continue
			}
			es = append(es, Entry{Track: t, Version: v})
		}
	}
	return Manifest{entries: es}, errors.Join(errs...)
}
