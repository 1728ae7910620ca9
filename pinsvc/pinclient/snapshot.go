package pinclient

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Snapshot is an immutable view of every service a Client knows, as of one
// etcd revision. It is safe for concurrent use; the ServiceState values it
// returns are shared and must not be modified.
type Snapshot struct {
	rev    int64
	synced bool
	caps   map[string]backport.Manifest
	states map[string]*rollpinv1.ServiceState
}

// Revision returns the etcd revision the snapshot reflects.
func (s *Snapshot) Revision() int64 { return s.rev }

// Synced reports whether the snapshot came from pind (true) or only from the
// persisted snapshot file (false).
func (s *Snapshot) Synced() bool { return s.synced }

// Services returns the names of the services in the snapshot, sorted.
func (s *Snapshot) Services() []string {
	return slices.Sorted(maps.Keys(s.states))
}

// State returns the state of service as pind last sent it.
func (s *Snapshot) State(service string) (*rollpinv1.ServiceState, bool) {
	st, ok := s.states[service]
	return st, ok
}

// Cap returns the effective cap of service, Min(pin, floor); ok is false
// when the service is unknown (no pin and no live instance).
func (s *Snapshot) Cap(service string) (backport.Manifest, bool) {
	m, ok := s.caps[service]
	return m, ok
}

// effectiveCap computes Min(pin, floor) of st. The floor always wins: an
// older live instance is a fact. When the pin or floor text cannot be parsed
// it falls back to the effective cap computed by pind.
func effectiveCap(st *rollpinv1.ServiceState) (backport.Manifest, error) {
	pin, err1 := backport.ParseManifest(st.GetPin().GetManifest())
	floor, err2 := backport.ParseManifest(st.GetFloor())
	if err := errors.Join(err1, err2); err != nil {
		m, err3 := backport.ParseManifest(st.GetEffectiveCap())
		if err3 != nil {
			return backport.Manifest{}, fmt.Errorf("pinclient: service %q: %w", st.GetService(), err)
		}
		return m, nil
	}
	return backport.Min(pin, floor), nil
}

// apply returns the snapshot that results from applying us, in order, to s
// (nil s: an empty snapshot). It never modifies s and copies its maps once
// for the whole batch. Services whose pin or floor cannot be parsed keep
// their previous cap, and the errors are logged.
func (s *Snapshot) apply(us []*rollpinv1.PinUpdate, log *slog.Logger) *Snapshot {
	if len(us) == 0 {
		return s
	}
	start := 0
	for i, u := range us {
		if u.GetSnapshot() {
			start = i // a snapshot replaces everything before it
		}
	}
	us = us[start:]
	next := &Snapshot{rev: us[len(us)-1].GetRevision(), synced: true}
	if us[0].GetSnapshot() || s == nil {
		next.caps = make(map[string]backport.Manifest, len(us[0].GetServices()))
		next.states = make(map[string]*rollpinv1.ServiceState, len(us[0].GetServices()))
	} else {
		next.caps = maps.Clone(s.caps)
		next.states = maps.Clone(s.states)
	}
	for _, u := range us {
		for _, name := range u.GetRemoved() {
			delete(next.caps, name)
			delete(next.states, name)
		}
		for _, st := range u.GetServices() {
			name := st.GetService()
			if name == "" {
				continue
			}
			next.states[name] = st
			m, err := effectiveCap(st)
			if err != nil {
				log.Error("pinclient: ignoring unparsable pin update; keeping the previous cap", "service", name, "err", err)
				if _, ok := next.caps[name]; !ok && s != nil {
					if old, ok := s.caps[name]; ok {
						next.caps[name] = old
					}
				}
				continue
			}
			next.caps[name] = m
		}
	}
	return next
}

// toUpdate renders s as a full-snapshot PinUpdate (for the snapshot file).
func (s *Snapshot) toUpdate() *rollpinv1.PinUpdate {
	u := &rollpinv1.PinUpdate{Revision: s.rev, Snapshot: true}
	for _, name := range s.Services() {
		u.Services = append(u.Services, s.states[name])
	}
	return u
}

// writeSnapshotFile writes s to path atomically: a temporary file in the same
// directory, synced, then renamed over path.
func writeSnapshotFile(path string, s *Snapshot) error {
	b, err := protojson.MarshalOptions{Multiline: true}.Marshal(s.toUpdate())
	if err != nil {
		return fmt.Errorf("pinclient: encode snapshot: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pinclient: write snapshot file: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pinclient: write snapshot file: %w", err)
	}
	return nil
}

// readSnapshotFile loads a snapshot written by writeSnapshotFile. The result
// is marked not synced.
func readSnapshotFile(path string, log *slog.Logger) (*Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pinclient: read snapshot file: %w", err)
	}
	var u rollpinv1.PinUpdate
	if err := protojson.Unmarshal(b, &u); err != nil {
		return nil, fmt.Errorf("pinclient: snapshot file %s is corrupt (delete it to start without it): %w", path, err)
	}
	u.Snapshot = true
	s := (*Snapshot)(nil).apply([]*rollpinv1.PinUpdate{&u}, log)
	s.synced = false
	return s, nil
}
