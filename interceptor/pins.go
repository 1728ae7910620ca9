package interceptor

import (
	"sync/atomic"

	"github.com/rollpin/rollpin/backport"
)

// PinSource tells a client interceptor the cap of each gRPC service.
// Implementations must be safe for concurrent use and should answer without
// locks: Cap is called on every call. pinclient.Client (package pinsvc/pinclient) implements it.
type PinSource interface {
	// Cap returns the current cap for a gRPC service (full name, e.g.
	// "acme.volume.v1.VolumeService"). ok=false: the service has no pin and no
	// registered instances.
	Cap(service string) (cap backport.Manifest, ok bool)
}

// StaticPins is a fixed PinSource: service full name → cap. It is meant for
// tests and for deployments without pind. A StaticPins must not be modified
// while interceptors use it; to change pins at run time use AtomicPins.
type StaticPins map[string]backport.Manifest

// Cap returns p[service].
func (p StaticPins) Cap(service string) (backport.Manifest, bool) {
	m, ok := p[service]
	return m, ok
}

// AtomicPins is a PinSource whose whole table is replaced atomically by
// Store: a change takes effect on the next call, readers never lock. The zero
// AtomicPins has no pins.
type AtomicPins struct {
	p atomic.Pointer[StaticPins]
}

// NewAtomicPins returns an AtomicPins holding pins (which must not be
// modified afterwards).
func NewAtomicPins(pins StaticPins) *AtomicPins {
	a := &AtomicPins{}
	a.Store(pins)
	return a
}

// Store replaces the whole pin table. pins must not be modified afterwards.
// Safe for concurrent use with Cap.
func (a *AtomicPins) Store(pins StaticPins) { a.p.Store(&pins) }

// Cap returns the cap of service in the current table: one atomic load and
// one map lookup.
func (a *AtomicPins) Cap(service string) (backport.Manifest, bool) {
	p := a.p.Load()
	if p == nil {
		return backport.Manifest{}, false
	}
	return p.Cap(service)
}
