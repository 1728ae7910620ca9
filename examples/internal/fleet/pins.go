package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/pinsvc/pinclient"
)

// Service is the full name of the example's gRPC service.
const Service = "acme.volume.v1.VolumeService"

// Track is the example's track (its proto package).
const Track = "acme.volume.v1"

// WatchPins starts a pinclient.Client watching the pins (the process does not
// serve) and waits for its first snapshot. The caller closes it.
func WatchPins(ctx context.Context, endpoints []string, log *slog.Logger) (*pinclient.Client, error) {
	c, err := pinclient.NewClient(endpoints, pinclient.WithInsecure(), pinclient.WithLogger(log), pinclient.WithBackoff(50*time.Millisecond, time.Second))
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		c.Close()
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := c.WaitForSync(wctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("watch pins: %w", err)
	}
	return c, nil
}

// CapVersion returns the version of the example's track in the cap pins
// hold for the service, and false when there is no cap (uncapped).
func CapVersion(m backport.Manifest, ok bool) (backport.Version, bool) {
	if !ok {
		return backport.Version{}, false
	}
	return m.Get(Track)
}

// Allows14 reports whether a cap lets a 1.4 feature through: the track is
// at 1.4 or above, or not capped at all.
func Allows14(m backport.Manifest, ok bool) bool {
	v, capped := CapVersion(m, ok)
	return !capped || !v.Less(backport.Version{Major: 1, Minor: 4})
}
