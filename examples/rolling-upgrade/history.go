package main

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/examples/internal/fleet"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// PinChange is one write of the service's pin, as etcd recorded it.
type PinChange struct {
	Revision  int64  `json:"revision"`
	Manifest  string `json:"manifest"`
	UpdatedBy string `json:"updated_by"`
	Reason    string `json:"reason,omitempty"`
	// Live13 is how many 1.3 instances were registered at that revision.
	Live13 int `json:"live_1_3"`
}

// history is what etcd saw of the service during the run.
type history struct {
	Pins []PinChange
	// Last13Gone is the revision at which the last 1.3 instance
	// deregistered (0 if one is still registered).
	Last13Gone int64
}

// readHistory replays every change of the service's keys from etcd's
// revision 1 to now: the authoritative order of registrations, departures
// and pin writes (no compaction happens during the demo).
func readHistory(ctx context.Context, cli *clientv3.Client, prefix string) (history, error) {
	var h history
	// A sentinel write marks the end of the replay.
	endKey := prefix + "demo/replay-end"
	end, err := cli.Put(ctx, endKey, "end")
	if err != nil {
		return h, err
	}
	endRev := end.Header.Revision
	pinKey := prefix + "pins/" + fleet.Service
	instPrefix := prefix + "instances/" + fleet.Service + "/"
	live := map[string]bool{} // instance key -> is 1.3
	count13 := func() int {
		n := 0
		for _, is13 := range live {
			if is13 {
				n++
			}
		}
		return n
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(1), clientv3.WithPrevKV())
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return h, fmt.Errorf("replay etcd history: %w", err)
		}
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			switch {
			case key == endKey && ev.Kv.ModRevision >= endRev:
				return h.finish(count13()), nil
			case key == pinKey && ev.Type == clientv3.EventTypePut:
				pin := &rollpinv1.Pin{}
				if err := proto.Unmarshal(ev.Kv.Value, pin); err != nil {
					return h, fmt.Errorf("decode pin at revision %d: %w", ev.Kv.ModRevision, err)
				}
				h.Pins = append(h.Pins, PinChange{Revision: ev.Kv.ModRevision, Manifest: pin.GetManifest(),
					UpdatedBy: pin.GetUpdatedBy(), Reason: pin.GetReason(), Live13: count13()})
			case strings.HasPrefix(key, instPrefix) && ev.Type == clientv3.EventTypePut:
				inst := &rollpinv1.Instance{}
				if err := proto.Unmarshal(ev.Kv.Value, inst); err != nil {
					return h, fmt.Errorf("decode instance at revision %d: %w", ev.Kv.ModRevision, err)
				}
				live[key] = is13(inst.GetManifest())
			case strings.HasPrefix(key, instPrefix) && ev.Type == clientv3.EventTypeDelete:
				was13 := live[key]
				delete(live, key)
				if was13 && count13() == 0 {
					h.Last13Gone = ev.Kv.ModRevision
				}
			}
		}
	}
	return h, fmt.Errorf("replay etcd history: watch ended: %w", ctx.Err())
}

func (h history) finish(live13 int) history {
	if live13 > 0 {
		h.Last13Gone = 0
	}
	return h
}

// is13 reports whether a manifest holds the example's track below 1.4.
func is13(manifest string) bool {
	m, err := backport.ParseManifest(manifest)
	if err != nil {
		return false
	}
	v, ok := m.Get(fleet.Track)
	return ok && v.Less(backport.Version{Major: 1, Minor: 4})
}

// trackVersion returns the example track's version in a manifest text, or
// "-" when absent.
func trackVersion(manifest string) string {
	m, err := backport.ParseManifest(manifest)
	if err != nil {
		return "?"
	}
	if v, ok := m.Get(fleet.Track); ok {
		return v.String()
	}
	return "-"
}
