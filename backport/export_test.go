package backport

import "google.golang.org/protobuf/reflect/protoreflect"

// What the external tests (package backport_test, which can import the
// generated test API) need from the engine's internals.

// CapCacheEntries bounds the capPlans one root plan keeps.
const CapCacheEntries = capCacheEntries

// CapCacheLen returns how many capPlans the plan of md holds on e.
func CapCacheLen(e *Engine, md protoreflect.MessageDescriptor) int {
	c := e.planFor(md).caps.Load()
	if c == nil {
		return 0
	}
	return len(c.entries)
}

// FillNeeded is what the filler decides from the plan of md alone.
func FillNeeded(e *Engine, md protoreflect.MessageDescriptor, sender Manifest, hooks bool) bool {
	return fillNeeded(e.planFor(md), sender, hooks)
}

// SetUpgrader installs (fn non-nil) or removes an upgrader on any engine.
func SetUpgrader(e *Engine, name protoreflect.FullName, fn func(protoreflect.Message, Manifest) error) {
	e.upgraders.set(name, fn, fn == nil)
}

// UsesGenerated reports whether e runs generated code for md.
func UsesGenerated(e *Engine, md protoreflect.MessageDescriptor) bool {
	return e.generated && e.planFor(md).gen != nil
}

// MapKeyText formats a map key as RejectError paths do.
func MapKeyText(k protoreflect.MapKey) string { return mapKeyText(k) }
