package compat

import (
	"cmp"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/rollpin/rollpin/backport"
)

// schema indexes one release's descriptors for the checks.
type schema struct {
	files    []protoreflect.FileDescriptor // sorted by path
	tracks   map[string]*track             // by package
	messages map[protoreflect.FullName]protoreflect.MessageDescriptor
	enums    map[protoreflect.FullName]protoreflect.EnumDescriptor
	services map[protoreflect.FullName]protoreflect.ServiceDescriptor
}

// track is a package's api declaration.
type track struct {
	name    string
	text    string // as declared in file
	file    string // first file (by path) that declares it
	version backport.Version
	valid   bool // text parsed
	// mismatches are the other files of the package that declare a
	// different version.
	mismatches []mismatch
}

type mismatch struct{ file, text string }

// versioned reports whether t is a usable track.
func (t *track) versioned() bool { return t != nil && t.valid }

func newSchema(files *protoregistry.Files) *schema {
	s := &schema{
		tracks:   map[string]*track{},
		messages: map[protoreflect.FullName]protoreflect.MessageDescriptor{},
		enums:    map[protoreflect.FullName]protoreflect.EnumDescriptor{},
		services: map[protoreflect.FullName]protoreflect.ServiceDescriptor{},
	}
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		s.files = append(s.files, fd)
		return true
	})
	slices.SortFunc(s.files, func(a, b protoreflect.FileDescriptor) int { return cmp.Compare(a.Path(), b.Path()) })
	for _, fd := range s.files {
		s.addTrack(fd)
		s.addMessages(fd.Messages())
		s.addEnums(fd.Enums())
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			s.services[sd.FullName()] = sd
		}
	}
	return s
}

// addTrack records fd's api declaration. When the files of a package
// disagree, the track takes the highest valid version (so that the since
// checks judge against what the author most likely meant) and the other
// declarations are mismatches.
func (s *schema) addTrack(fd protoreflect.FileDescriptor) {
	o, ok := apiOptions(fd)
	if !ok {
		return
	}
	pkg := string(fd.Package())
	text := o.GetVersion()
	v, perr := backport.ParseVersion(text)
	t, seen := s.tracks[pkg]
	if !seen {
		s.tracks[pkg] = &track{name: pkg, text: text, file: fd.Path(), version: v, valid: perr == nil}
		return
	}
	if text == t.text {
		return
	}
	if perr == nil && (!t.valid || t.version.Less(v)) {
		// The new declaration wins; the old one becomes a mismatch, and so
		// do earlier mismatches (they differ from the new text too, unless
		// equal to it).
		old := append([]mismatch{{file: t.file, text: t.text}}, t.mismatches...)
		t.mismatches = nil
		for _, m := range old {
			if m.text != text {
				t.mismatches = append(t.mismatches, m)
			}
		}
		t.text, t.file, t.version, t.valid = text, fd.Path(), v, true
		return
	}
	t.mismatches = append(t.mismatches, mismatch{file: fd.Path(), text: text})
}

func (s *schema) addMessages(ms protoreflect.MessageDescriptors) {
	for i := 0; i < ms.Len(); i++ {
		md := ms.Get(i)
		if md.IsMapEntry() {
			continue
		}
		s.messages[md.FullName()] = md
		s.addMessages(md.Messages())
		s.addEnums(md.Enums())
	}
}

func (s *schema) addEnums(es protoreflect.EnumDescriptors) {
	for i := 0; i < es.Len(); i++ {
		ed := es.Get(i)
		s.enums[ed.FullName()] = ed
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[protoreflect.FullName]V) []protoreflect.FullName {
	ks := make([]protoreflect.FullName, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
