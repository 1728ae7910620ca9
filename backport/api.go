package backport

// This file holds the engine's public entry points. Their bodies are being
// written (see plan.go once it lands); until then they report
// errNotImplemented so that dependent packages compile.

import (
	"errors"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

var errNotImplemented = errors.New("backport: not implemented yet")

// Downgrade returns msg made conformant to cap. It never mutates msg. When
// nothing in msg is newer than cap it returns msg itself (no allocation). A
// populated field with ON_DOWNGRADE_REJECT, or an enum value with no
// downgrade_to, yields a *RejectError naming the field path, its since and
// the cap.
func Downgrade(msg proto.Message, cap Manifest) (proto.Message, error) {
	return DowngradeObserved(msg, cap, nil)
}

// DowngradeObserved is Downgrade that reports every change to obs (nil: none).
func DowngradeObserved(msg proto.Message, cap Manifest, obs Observer) (proto.Message, error) {
	return nil, errNotImplemented
}

// FillDefaults sets, in place, the declared default of every unpopulated
// field whose since is newer than the sender's version of its track,
// recursively through present sub-messages.
func FillDefaults(msg proto.Message, sender Manifest) error {
	return FillDefaultsObserved(msg, sender, nil)
}

// FillDefaultsObserved is FillDefaults that reports every change to obs
// (nil: none).
func FillDefaultsObserved(msg proto.Message, sender Manifest, obs Observer) error {
	return errNotImplemented
}

// Observer is told what Downgrade and FillDefaults change. Implementations
// must be safe for concurrent use when shared between goroutines.
type Observer interface {
	// FieldDropped is called for each populated field Downgrade clears
	// (once per message it is cleared in).
	FieldDropped(fd protoreflect.FieldDescriptor)
	// EnumDowngraded is called for each enum value Downgrade replaces.
	EnumDowngraded(fd protoreflect.FieldDescriptor, from, to protoreflect.EnumValueDescriptor)
	// DefaultFilled is called for each field FillDefaults sets.
	DefaultFilled(fd protoreflect.FieldDescriptor)
}

// Downgrader rewrites m (a copy being built, never the caller's input) so it
// conforms to cap; see RegisterDowngrader.
type Downgrader func(m protoreflect.Message, cap Manifest) error

// Upgrader completes m from an older sender; see RegisterUpgrader.
type Upgrader func(m protoreflect.Message, sender Manifest) error

// RegisterDowngrader registers fn for messages named name (generated and
// dynamic alike). It is called when cap is below the since of a populated
// ON_DOWNGRADE_CUSTOM field of the message, before the engine clears that
// field. Registering twice for one name replaces the hook. Safe for
// concurrent use.
func RegisterDowngrader(name protoreflect.FullName, fn func(m protoreflect.Message, cap Manifest) error) {
}

// RegisterUpgrader registers fn for messages named name. It is called by
// FillDefaults on a message when the sender's version of its track is below
// the message's track version. Safe for concurrent use.
func RegisterUpgrader(name protoreflect.FullName, fn func(m protoreflect.Message, sender Manifest) error) {
}

// OwnManifest returns the manifest of the descriptors linked into this
// binary (protoregistry.GlobalFiles). It is computed once, on first call;
// tracks whose declarations are invalid are left out (see ManifestOfFiles).
func OwnManifest() Manifest { return ownManifest() }

var ownManifest = sync.OnceValue(func() Manifest { return ManifestOf(protoregistry.GlobalFiles) })

// ManifestOf returns the manifest of every track declared in files. A
// package whose (rollpin.v1.api) declarations disagree or do not parse is
// left out; ManifestOfFiles reports it.
func ManifestOf(files *protoregistry.Files) Manifest {
	m, _ := ManifestOfFiles(files)
	return m
}
