package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// timeline prints what happens, as it happens.
type timeline struct {
	mu  sync.Mutex
	out io.Writer
	t0  time.Time
}

func (t *timeline) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "%6.1fs  %s\n", time.Since(t.t0).Seconds(), fmt.Sprintf(format, args...))
}

// block prints an event and the lines under it, with no status line in
// between.
func (t *timeline) block(event string, lines []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := time.Since(t.t0).Seconds()
	fmt.Fprintf(t.out, "%6.1fs  ▶ %s\n", at, event)
	for _, l := range lines {
		fmt.Fprintf(t.out, "%6.1fs      %s\n", at, l)
	}
}

// event prints a step of the scenario.
func (t *timeline) event(format string, args ...any) { t.printf("▶ "+format, args...) }

// status prints one line: the service as pind sees it, where its automatic
// raise stands (raise may be nil), then the fleet's counters.
func (t *timeline) status(st *pinsvc.State, raise *rollpinv1.RaiseStatus, f *fleetState) {
	t.printf("%s  %-15s │ %s", serviceLine(st), raiseLine(raise, time.Now()), countsLine(f))
}

// raiseLine says in a few words where the automatic raise stands.
func raiseLine(r *rollpinv1.RaiseStatus, now time.Time) string {
	switch r.GetState() {
	case rollpinv1.RaiseState_RAISE_STATE_UP_TO_DATE:
		return "up to date"
	case rollpinv1.RaiseState_RAISE_STATE_BLOCKED:
		return fmt.Sprintf("waits for %d old", len(r.GetBlockingInstances()))
	case rollpinv1.RaiseState_RAISE_STATE_SETTLING:
		if left := r.GetSettleUntil().AsTime().Sub(now); left > 0 {
			return fmt.Sprintf("raise in %.1fs", left.Seconds())
		}
		return "raising"
	case rollpinv1.RaiseState_RAISE_STATE_HELD:
		return "held"
	case rollpinv1.RaiseState_RAISE_STATE_MANUAL:
		return "manual"
	case rollpinv1.RaiseState_RAISE_STATE_NO_INSTANCES:
		return "no instances"
	}
	return ""
}

// serviceLine describes the pin, floor and live instances of the service.
func serviceLine(st *pinsvc.State) string {
	v := st.Service(fleet.Service)
	if v == nil {
		return "pin -    floor -    no instances"
	}
	pin := "-"
	if v.Pin != nil {
		pin = trackVersion(v.Pin.GetManifest())
	}
	floor := "-"
	if !v.Floor.IsEmpty() {
		floor = trackVersion(v.Floor.String())
	}
	byVersion := map[string]int{}
	for _, in := range v.Instances {
		byVersion[trackVersion(in.GetManifest())]++
	}
	versions := make([]string, 0, len(byVersion))
	for ver := range byVersion {
		versions = append(versions, ver)
	}
	sort.Strings(versions)
	var inst []string
	for _, ver := range versions {
		inst = append(inst, fmt.Sprintf("%s×%d", ver, byVersion[ver]))
	}
	if len(inst) == 0 {
		inst = []string{"none"}
	}
	return fmt.Sprintf("pin %-4s floor %-4s servers %-11s", pin, floor, strings.Join(inst, " "))
}

// countsLine sums the counters every process reported.
func countsLine(f *fleetState) string {
	c, s, _ := f.totals()
	return fmt.Sprintf("calls ok %-6d refused %-4d failed %d lost %d │ dropped %d enum↓ %d defaults %d",
		c.OK, c.Refused, c.Failed, c.Lost,
		c.FieldsDropped+s.FieldsDropped, c.EnumsDowngraded+s.EnumsDowngraded, c.DefaultsFilled+s.DefaultsFilled)
}
