package pinsvc

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// RaiseDecision is what the automatic raise would do for one service at one
// moment, and why.
type RaiseDecision struct {
	// Status explains the decision; it is what GetPins reports.
	Status *rollpinv1.RaiseStatus
	// Raise is true when the controller should write Target as the pin now.
	Raise bool
	// Create is true when the service has no pin yet and Raise creates it.
	Create bool
	// Target is the pin the controller raises to: the pin with every track
	// lifted to the floor (never lowered), plus the floor's tracks the pin
	// lacks. It equals the pin when there is nothing to raise.
	Target backport.Manifest
}

// DecideRaise is the rule of the automatic raise, as a pure function of a
// service's view, the time and the settle window:
//
//   - no live instance: NO_INSTANCES, nothing to do;
//   - the pin already names every version every instance runs: UP_TO_DATE
//     (BLOCKED when a forced pin is above instances that are still live);
//   - a hold: HELD; a MANUAL pin: MANUAL;
//   - the floor is not above the pin: BLOCKED, naming the instances that run
//     less than the newest manifest seen;
//   - otherwise SETTLING until the settle window has passed since the later
//     of the last change of the live instances and the last write of the pin,
//     then Raise. A service without a pin is created at its floor the same
//     way.
//
// The settle window restarts when the pin is written (so that lowering a pin
// for a roll-back gives the older instances time to register before the
// controller could raise it again) and when instances come or go.
func DecideRaise(v *ServiceView, now time.Time, settle time.Duration) RaiseDecision {
	if v == nil || len(v.Instances) == 0 {
		d := RaiseDecision{Status: &rollpinv1.RaiseStatus{
			State:  rollpinv1.RaiseState_RAISE_STATE_NO_INSTANCES,
			Reason: "no live instances: the pin stays where it is",
		}}
		if v != nil {
			d.Target = v.PinManifest
		}
		return d
	}
	pin := v.PinManifest
	newest := Max(v.distinct())
	target := raiseTarget(pin, v.Floor)
	desired := raiseTarget(pin, newest)
	behind := v.instancesBelow(newest)
	d := RaiseDecision{Target: pin}

	if v.Pin != nil && desired.Equal(pin) {
		if below := v.instancesBelow(pin); len(below) > 0 {
			d.Status = &rollpinv1.RaiseStatus{
				State: rollpinv1.RaiseState_RAISE_STATE_BLOCKED,
				Reason: fmt.Sprintf("the pin %s is above live instances (%s) running %s; senders cap at the floor until they are gone",
					pin, listIDs(below), v.Floor),
				BlockingInstances: below,
			}
			return d
		}
		d.Status = &rollpinv1.RaiseStatus{
			State:  rollpinv1.RaiseState_RAISE_STATE_UP_TO_DATE,
			Reason: fmt.Sprintf("every live instance runs the pin %s", pin),
		}
		return d
	}
	if h := v.Pin.GetHold(); h != nil {
		d.Status = &rollpinv1.RaiseStatus{
			State: rollpinv1.RaiseState_RAISE_STATE_HELD,
			Reason: fmt.Sprintf("held by %s: %s (floor %s, pin %s; release with: pindctl release %s)",
				orUnknown(h.GetBy()), h.GetReason(), v.Floor, pin, v.Name),
			BlockingInstances: behind,
		}
		return d
	}
	if v.Pin.GetMode() == rollpinv1.PinMode_PIN_MODE_MANUAL {
		d.Status = &rollpinv1.RaiseStatus{
			State: rollpinv1.RaiseState_RAISE_STATE_MANUAL,
			Reason: fmt.Sprintf("the pin is MANUAL: an operator raises it (floor %s, pin %s; pindctl pin set %s %s)",
				v.Floor, pin, v.Name, target),
			BlockingInstances: behind,
		}
		return d
	}
	if st, ok := expectedBlocks(v, behind); ok {
		d.Status = st
		return d
	}
	if v.Pin != nil && target.Equal(pin) {
		d.Status = &rollpinv1.RaiseStatus{
			State: rollpinv1.RaiseState_RAISE_STATE_BLOCKED,
			Reason: fmt.Sprintf("the pin %s waits for live instances still below %s: %s",
				pin, newest, listIDs(behind)),
			BlockingInstances: behind,
		}
		return d
	}
	since := v.InstancesChangedAt
	if at := v.Pin.GetUpdatedAt(); at != nil && at.AsTime().After(since) {
		since = at.AsTime()
	}
	until := since.Add(settle)
	d.Target = target
	d.Create = v.Pin == nil
	verb := "raise the pin " + pin.String() + " to " + target.String()
	if d.Create {
		verb = "create the pin at the floor " + target.String()
	}
	if now.Before(until) {
		d.Status = &rollpinv1.RaiseStatus{
			State:             rollpinv1.RaiseState_RAISE_STATE_SETTLING,
			Reason:            fmt.Sprintf("settling until %s, then %s", until.UTC().Format(time.RFC3339Nano), verb),
			SettleUntil:       timestamppb.New(until),
			BlockingInstances: behind,
		}
		return d
	}
	d.Raise = true
	d.Status = &rollpinv1.RaiseStatus{
		State:             rollpinv1.RaiseState_RAISE_STATE_SETTLING,
		Reason:            fmt.Sprintf("settled since %s: the controller will %s", until.UTC().Format(time.RFC3339Nano), verb),
		SettleUntil:       timestamppb.New(until),
		BlockingInstances: behind,
	}
	return d
}

// SettleRaiseStatus returns the RaiseFunc that reports DecideRaise's status
// with the given settle window (DefaultSettle when settle <= 0).
func SettleRaiseStatus(settle time.Duration) RaiseFunc {
	if settle <= 0 {
		settle = DefaultSettle
	}
	return func(v *ServiceView, now time.Time) *rollpinv1.RaiseStatus {
		return DecideRaise(v, now, settle).Status
	}
}

// raiseTarget lifts pin to floor: every track of pin at the higher of its
// version and the floor's, plus the tracks of floor that pin lacks. It never
// lowers a track.
func raiseTarget(pin, floor backport.Manifest) backport.Manifest {
	out := pin
	for _, e := range floor.Entries() {
		if v, ok := pin.Get(e.Track); ok && !v.Less(e.Version) {
			continue
		}
		m, err := out.With(e.Track, e.Version)
		if err != nil {
			continue // tracks of a parsed manifest are valid
		}
		out = m
	}
	return out
}

// listIDs renders at most ten ids for a reason text.
func listIDs(ids []string) string {
	if len(ids) > 10 {
		return strings.Join(ids[:10], ", ") + fmt.Sprintf(" and %d more", len(ids)-10)
	}
	return strings.Join(ids, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
