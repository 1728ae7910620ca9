package dbgate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// ErrUnknownTrack: no service's pin or live instance names a track of an
// after= manifest (a typo, or a service that never ran).
var ErrUnknownTrack = errors.New("dbgate: no service uses the track")

// Blocker is one thing that holds a manifest back: a pin below it, or a
// live instance running an older version.
type Blocker struct {
	// Service is the full gRPC service name.
	Service string
	// Instance is the live instance's id; empty when the pin blocks.
	Instance string
	// Track and Have: the version the pin or instance has.
	Track string
	Have  backport.Version
	// Want is the version of the after= manifest.
	Want backport.Version
}

// String describes the blocker in one phrase.
func (b Blocker) String() string {
	if b.Instance == "" {
		return fmt.Sprintf("pin of %s is %s=%s", b.Service, b.Track, b.Have)
	}
	return fmt.Sprintf("instance %s of %s runs %s=%s", b.Instance, b.Service, b.Track, b.Have)
}

// Verdict says whether a manifest is reached.
type Verdict struct {
	// After is the manifest asked about.
	After backport.Manifest
	// Reached is true when nothing blocks.
	Reached bool
	// Blockers lists what holds it back, sorted.
	Blockers []Blocker
}

// String is "reached" or "not reached: <blockers>".
func (v Verdict) String() string {
	if v.Reached {
		return fmt.Sprintf("%s is reached", v.After)
	}
	parts := make([]string, len(v.Blockers))
	for i, b := range v.Blockers {
		parts[i] = b.String()
	}
	return fmt.Sprintf("%s is not reached: %s", v.After, strings.Join(parts, "; "))
}

// Evaluate decides from a snapshot of pind's state whether after is
// reached: the pin of every service that uses a track of after (its pin or
// a live instance names it) is at or above it, and so is every live
// instance that runs the track. A pin that does not name the track does
// not cap it. The error wraps ErrUnknownTrack when no service uses a
// track.
func Evaluate(services []*rollpinv1.ServiceState, after backport.Manifest) (Verdict, error) {
	v := Verdict{After: after}
	for _, e := range after.Entries() {
		used := false
		for _, s := range services {
			if pin := s.GetPin(); pin != nil {
				if pm, err := backport.ParseManifest(pin.GetManifest()); err == nil {
					if pv, ok := pm.Get(e.Track); ok {
						used = true
						if pv.Less(e.Version) {
							v.Blockers = append(v.Blockers, Blocker{Service: s.GetService(), Track: e.Track, Have: pv, Want: e.Version})
						}
					}
				}
			}
			for _, in := range s.GetInstances() {
				im, err := backport.ParseManifest(in.GetManifest())
				if err != nil {
					continue
				}
				if iv, ok := im.Get(e.Track); ok {
					used = true
					if iv.Less(e.Version) {
						v.Blockers = append(v.Blockers, Blocker{Service: s.GetService(), Instance: in.GetId(), Track: e.Track, Have: iv, Want: e.Version})
					}
				}
			}
		}
		if !used {
			return v, fmt.Errorf("%w %s (after=%s): check the migration's header; pindctl status lists the services and their tracks", ErrUnknownTrack, e.Track, after)
		}
	}
	sort.Slice(v.Blockers, func(i, j int) bool {
		a, b := v.Blockers[i], v.Blockers[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Instance < b.Instance
	})
	v.Reached = len(v.Blockers) == 0
	return v, nil
}

// Ready asks pind (GetPins) whether after is reached.
func Ready(ctx context.Context, pind rollpinv1.PinServiceClient, after backport.Manifest) (Verdict, error) {
	resp, err := pind.GetPins(ctx, &rollpinv1.GetPinsRequest{})
	if err != nil {
		return Verdict{After: after}, fmt.Errorf("dbgate: read pins: %w", err)
	}
	return Evaluate(resp.GetServices(), after)
}

// Wait blocks until after is reached, driven by pind's WatchPins stream
// (every change is evaluated as it arrives; nothing polls). progress, when
// not nil, is called with each new verdict. A track no service uses is
// an error at once. When the stream breaks, Wait opens a new one (fresh
// snapshot) after a short pause; it returns ctx's error when ctx ends.
func Wait(ctx context.Context, pind rollpinv1.PinServiceClient, after backport.Manifest, progress func(Verdict)) (Verdict, error) {
	last := ""
	first := true
	for {
		v, err := watchOnce(ctx, pind, after, first, func(v Verdict) {
			if s := v.String(); s != last && progress != nil {
				last = s
				progress(v)
			}
		})
		if err == nil || errors.Is(err, ErrUnknownTrack) || ctx.Err() != nil {
			if ctx.Err() != nil && err != nil {
				return v, fmt.Errorf("dbgate: waiting for %s: %w (%s)", after, ctx.Err(), v)
			}
			return v, err
		}
		if c := status.Code(err); c != codes.Unavailable && c != codes.Internal && c != codes.Unknown {
			return v, fmt.Errorf("dbgate: watch pins: %w", err)
		}
		first = false
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// watchOnce runs one WatchPins stream until after is reached.
func watchOnce(ctx context.Context, pind rollpinv1.PinServiceClient, after backport.Manifest, first bool, report func(Verdict)) (Verdict, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pind.WatchPins(sctx, &rollpinv1.WatchPinsRequest{})
	v := Verdict{After: after}
	if err != nil {
		return v, err
	}
	state := map[string]*rollpinv1.ServiceState{}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return v, err
		}
		up := msg.GetUpdate()
		if up.GetSnapshot() {
			clear(state)
		}
		for _, s := range up.GetServices() {
			state[s.GetService()] = s
		}
		for _, r := range up.GetRemoved() {
			delete(state, r)
		}
		services := make([]*rollpinv1.ServiceState, 0, len(state))
		for _, s := range state {
			services = append(services, s)
		}
		v, err = Evaluate(services, after)
		if err != nil {
			if first && up.GetSnapshot() {
				return v, err
			}
			continue // a service may come back
		}
		report(v)
		if v.Reached {
			return v, nil
		}
	}
}
