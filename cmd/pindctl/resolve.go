package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// resolveService maps what the operator typed to one full service name from
// known. An exact match wins; otherwise name must be a unique suffix of a
// known name at a dot boundary ("VolumeService", "v1.VolumeService" for
// "acme.volume.v1.VolumeService"). A name matching nothing is returned
// unchanged when it looks like a full name (it has a dot), so a pin can be
// created for a service pind does not know yet; otherwise it is an error.
// An ambiguous name is a usage error listing the candidates.
func resolveService(name string, known []string) (string, error) {
	if name == "" {
		return "", usagef("empty service name")
	}
	if slices.Contains(known, name) {
		return name, nil
	}
	var cands []string
	for _, k := range known {
		if strings.HasSuffix(k, "."+name) {
			cands = append(cands, k)
		}
	}
	slices.Sort(cands)
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		if strings.Contains(name, ".") {
			return name, nil
		}
		if len(known) == 0 {
			return "", fmt.Errorf("no service matches %q: pind knows no service yet (instances register themselves; `pindctl status` lists them)", name)
		}
		return "", fmt.Errorf("no service matches %q; known services: %s", name, strings.Join(known, ", "))
	default:
		return "", usagef("service name %q is ambiguous; it matches %s: give more of the name", name, strings.Join(cands, ", "))
	}
}

// snapshot reads the state of every service from pind.
func (a *app) snapshot(ctx context.Context) (*rollpinv1.GetPinsResponse, error) {
	c, err := a.pind()
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.call(ctx)
	defer cancel()
	resp, err := c.GetPins(ctx, &rollpinv1.GetPinsRequest{})
	if err != nil {
		return nil, a.rpcError("read the pins", err)
	}
	return resp, nil
}

// lookup reads every service, resolves name among them and returns the full
// name with its state (nil when pind does not know the service).
func (a *app) lookup(ctx context.Context, name string) (string, *rollpinv1.ServiceState, error) {
	snap, err := a.snapshot(ctx)
	if err != nil {
		return "", nil, err
	}
	full, err := resolveService(name, serviceNames(snap.GetServices()))
	if err != nil {
		return "", nil, err
	}
	for _, s := range snap.GetServices() {
		if s.GetService() == full {
			return full, s, nil
		}
	}
	return full, nil, nil
}

// serviceNames lists the names of states, in order.
func serviceNames(states []*rollpinv1.ServiceState) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = s.GetService()
	}
	return out
}
