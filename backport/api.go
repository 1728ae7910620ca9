package backport

// This file holds the engine's public entry points; plan.go compiles the
// per-descriptor plans, downgrade.go and fill.go walk messages with them.

import (
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Downgrade returns msg made conformant to cap. It never mutates msg. When
// nothing in msg is newer than cap it returns msg itself (no allocation). A
// populated field with ON_DOWNGRADE_REJECT, or an enum value with no
// downgrade_to, yields a *RejectError naming the field path, its since and
// the cap.
//
// Only what changes is copied: the result shares every unchanged
// sub-message, list and map with msg, so treat both as read-only afterwards
// (or proto.Clone the result before mutating it). Populated fields newer
// than the cap are cleared (ON_DOWNGRADE_DROP) or handed to the message's
// downgrader (ON_DOWNGRADE_CUSTOM); enum values newer than the cap are
// replaced by their downgrade_to, following chains.
//
// Unknown fields follow one rule at every depth: they are newer than
// anything this binary knows, so a message whose track the cap holds below
// this binary's version of it loses them; when the cap covers this
// binary's version of the track, they pass through untouched (as do those
// of messages in unversioned packages).
//
// Tracks absent from cap are uncapped, and a cap at or above the schema's
// version is nothing to do. Other errors: invalid options in the message's
// types (wrapping ErrSchema, see CheckMessage), a cap in another major
// version (ErrAcrossMajors), a CUSTOM field with no downgrader
// (ErrNoDowngrader), or a downgrader's own error. It runs on the default
// engine (see Default); safe for concurrent use.
func Downgrade(msg proto.Message, cap Manifest) (proto.Message, error) {
	return defaultEngine.downgradeMessage(msg, cap, nil)
}

// DowngradeObserved is Downgrade that reports every change to obs (nil: none).
func DowngradeObserved(msg proto.Message, cap Manifest, obs Observer) (proto.Message, error) {
	return defaultEngine.downgradeMessage(msg, cap, obs)
}

// FillDefaults sets, in place, the declared default of every unpopulated
// field whose since is newer than the sender's version of its track,
// recursively through present sub-messages (it never creates an absent
// sub-message to fill inside it). Fields the sender knew are never touched,
// even when zero; a oneof member is not filled when another member is set.
// Registered upgraders run on each message whose track the sender has below
// this schema's version, after its defaults are filled. Tracks absent from
// sender are taken as known to the sender. Errors: invalid options
// (ErrSchema), a sender in another major (ErrAcrossMajors), an upgrader's
// error. It runs on the default engine.
func FillDefaults(msg proto.Message, sender Manifest) error {
	return defaultEngine.fillMessage(msg, sender, nil)
}

// MayFill reports whether FillDefaults could change, or fail on, a message
// of type md from a sender at or above sender (in the same major) on every
// track sender holds; tracks absent from sender count as known, as in
// FillDefaults. False guarantees that FillDefaults leaves every such message
// untouched and returns nil, as long as no upgrader is registered meanwhile.
// A client that knows its peer runs at least its cap uses it to skip
// collecting the peer's version when no answer could need defaults.
func MayFill(md protoreflect.MessageDescriptor, sender Manifest) bool {
	return defaultEngine.MayFill(md, sender)
}

// FillDefaultsObserved is FillDefaults that reports every change to obs
// (nil: none).
func FillDefaultsObserved(msg proto.Message, sender Manifest, obs Observer) error {
	return defaultEngine.fillMessage(msg, sender, obs)
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

// RegisterDowngrader registers fn on the default engine for messages named
// name (generated and dynamic alike). It is called when cap is below the
// since of a populated ON_DOWNGRADE_CUSTOM field of the message, once per
// message, on a private deep copy of it (never the caller's input), before
// the engine clears the fields newer than the cap; the engine then
// downgrades what fn left. Registering twice for one name replaces the
// hook; a nil fn removes it. Safe for concurrent use. Engines built with
// New take their hooks from WithDowngrader.
func RegisterDowngrader(name protoreflect.FullName, fn func(m protoreflect.Message, cap Manifest) error) {
	defaultEngine.downgraders.set(name, fn, fn == nil)
}

// RegisterUpgrader registers fn on the default engine for messages named
// name. It is called by FillDefaults on a present message, in place and
// after its defaults are filled, when the sender's version of its track is
// below this schema's version of it. A nil fn removes the hook. Safe for
// concurrent use.
func RegisterUpgrader(name protoreflect.FullName, fn func(m protoreflect.Message, sender Manifest) error) {
	defaultEngine.upgraders.set(name, fn, fn == nil)
}

// CheckMessage compiles the plan of md on the default engine and returns
// every invalid rollpin option in md and the types it reaches (bad version
// text, a since above its package's version or in an unversioned package,
// conflicting package declarations, an unknown or newer downgrade_to, an
// unparsable default), each naming the element, joined with errors.Join;
// nil when all are valid. Every error wraps ErrSchema. It never panics on
// bad options.
func CheckMessage(md protoreflect.MessageDescriptor) error {
	return defaultEngine.planFor(md).err
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
