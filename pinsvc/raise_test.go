package pinsvc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func mustManifest(t testing.TB, s string) backport.Manifest {
	t.Helper()
	m, err := backport.ParseManifest(s)
	if err != nil {
		t.Fatalf("ParseManifest(%q): %v", s, err)
	}
	return m
}

// view builds a ServiceView the way the server does, for the pure raise
// rule. pin "" means no pin; insts are "id=manifest" pairs separated by ";".
func testView(t testing.TB, pin string, mode rollpinv1.PinMode, hold bool, pinAt, changedAt time.Time, insts ...string) *ServiceView {
	t.Helper()
	v := &ServiceView{Name: "acme.volume.v1.VolumeService", InstancesChangedAt: changedAt}
	if pin != "" {
		v.Pin = &rollpinv1.Pin{Manifest: pin, Mode: mode, UpdatedAt: timestamppb.New(pinAt)}
		if hold {
			v.Pin.Hold = &rollpinv1.PinHold{Reason: "disk migration", By: "ops"}
		}
		v.PinManifest = mustManifest(t, pin)
		v.PinRevision = 7
	}
	for _, in := range insts {
		id, m, _ := strings.Cut(in, "@")
		v.Instances = append(v.Instances, &rollpinv1.Instance{Id: id, Manifest: m})
		v.Manifests = append(v.Manifests, mustManifest(t, m))
	}
	v.Floor = Floor(v.Manifests)
	v.EffectiveCap = backport.Min(v.PinManifest, v.Floor)
	return v
}

func TestDecideRaise(t *testing.T) {
	const (
		v13 = "acme.volume.v1=1.3"
		v14 = "acme.volume.v1=1.4"
	)
	settle := time.Minute
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	before := t0.Add(-time.Hour)
	auto, manual := rollpinv1.PinMode_PIN_MODE_AUTO, rollpinv1.PinMode_PIN_MODE_MANUAL
	for _, tc := range []struct {
		name                string
		pin                 string
		mode                rollpinv1.PinMode
		hold                bool
		pinAt, changedAt    time.Time
		now                 time.Time
		insts               []string
		wantState           rollpinv1.RaiseState
		wantRaise, wantNew  bool
		wantTarget          string
		wantBlocking        []string
		wantReasonSubstring string
	}{
		{name: "no instances", pin: v13, mode: auto, pinAt: before, changedAt: before, now: t0,
			wantState: rollpinv1.RaiseState_RAISE_STATE_NO_INSTANCES, wantTarget: v13},
		{name: "up to date", pin: v13, mode: auto, pinAt: before, changedAt: before, now: t0,
			insts: []string{"a@" + v13, "b@" + v13}, wantState: rollpinv1.RaiseState_RAISE_STATE_UP_TO_DATE, wantTarget: v13},
		{name: "mixed fleet blocks", pin: v13, mode: auto, pinAt: before, changedAt: before, now: t0,
			insts: []string{"a@" + v14, "b@" + v13, "c@" + v14}, wantState: rollpinv1.RaiseState_RAISE_STATE_BLOCKED,
			wantTarget: v13, wantBlocking: []string{"b"}},
		{name: "settling", pin: v13, mode: auto, pinAt: before, changedAt: t0.Add(-10 * time.Second), now: t0,
			insts: []string{"a@" + v14, "b@" + v14}, wantState: rollpinv1.RaiseState_RAISE_STATE_SETTLING,
			wantTarget: v14, wantReasonSubstring: "settling until 2026-01-01T12:00:50Z"},
		{name: "settled raises", pin: v13, mode: auto, pinAt: before, changedAt: t0.Add(-settle), now: t0,
			insts: []string{"a@" + v14, "b@" + v14}, wantState: rollpinv1.RaiseState_RAISE_STATE_SETTLING,
			wantRaise: true, wantTarget: v14},
		{name: "pin written recently restarts the window", pin: v13, mode: auto, pinAt: t0.Add(-time.Second), changedAt: before, now: t0,
			insts: []string{"a@" + v14}, wantState: rollpinv1.RaiseState_RAISE_STATE_SETTLING, wantTarget: v14},
		{name: "held", pin: v13, mode: auto, hold: true, pinAt: before, changedAt: before, now: t0,
			insts: []string{"a@" + v14}, wantState: rollpinv1.RaiseState_RAISE_STATE_HELD, wantTarget: v13,
			wantReasonSubstring: "held by ops: disk migration"},
		{name: "manual", pin: v13, mode: manual, pinAt: before, changedAt: before, now: t0,
			insts: []string{"a@" + v14}, wantState: rollpinv1.RaiseState_RAISE_STATE_MANUAL, wantTarget: v13,
			wantReasonSubstring: "pindctl pin set"},
		{name: "new service settles then creates", changedAt: t0.Add(-2 * settle), now: t0,
			insts: []string{"a@" + v14, "b@" + v13}, wantState: rollpinv1.RaiseState_RAISE_STATE_SETTLING,
			wantRaise: true, wantNew: true, wantTarget: v13, wantBlocking: []string{"b"}},
		{name: "new service waits for settle", changedAt: t0, now: t0,
			insts: []string{"a@" + v13}, wantState: rollpinv1.RaiseState_RAISE_STATE_SETTLING, wantNew: true, wantTarget: v13},
		{name: "never lowers", pin: v14, mode: auto, pinAt: before, changedAt: before, now: t0,
			insts: []string{"a@" + v13}, wantState: rollpinv1.RaiseState_RAISE_STATE_BLOCKED, wantTarget: v14,
			wantBlocking: []string{"a"}, wantReasonSubstring: "above live instances"},
		{name: "partial raise while newer rolls out", pin: v13, mode: auto, pinAt: before, changedAt: before, now: t0,
			insts: []string{"a@acme.volume.v1=1.4", "b@acme.volume.v1=1.5"}, wantState: rollpinv1.RaiseState_RAISE_STATE_SETTLING,
			wantRaise: true, wantTarget: v14, wantBlocking: []string{"a"}},
		{name: "floor adds a track", pin: v13, mode: auto, pinAt: before, changedAt: before, now: t0,
			insts: []string{"a@acme.types.v1=2.0," + v13}, wantState: rollpinv1.RaiseState_RAISE_STATE_SETTLING,
			wantRaise: true, wantTarget: "acme.types.v1=2.0," + v13},
		{name: "raise keeps tracks the floor lacks", pin: "acme.other.v1=1.0," + v13, mode: auto, pinAt: before, changedAt: before, now: t0,
			insts: []string{"a@" + v14}, wantState: rollpinv1.RaiseState_RAISE_STATE_SETTLING,
			wantRaise: true, wantTarget: "acme.other.v1=1.0," + v14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := testView(t, tc.pin, tc.mode, tc.hold, tc.pinAt, tc.changedAt, tc.insts...)
			d := DecideRaise(v, tc.now, settle)
			if d.Status.GetState() != tc.wantState {
				t.Errorf("DecideRaise state = %v (%s), want %v", d.Status.GetState(), d.Status.GetReason(), tc.wantState)
			}
			if d.Raise != tc.wantRaise || d.Create != tc.wantNew {
				t.Errorf("DecideRaise raise, create = %v, %v, want %v, %v", d.Raise, d.Create, tc.wantRaise, tc.wantNew)
			}
			if got := d.Target.String(); got != tc.wantTarget {
				t.Errorf("DecideRaise target = %q, want %q", got, tc.wantTarget)
			}
			if diff := cmp.Diff(tc.wantBlocking, d.Status.GetBlockingInstances()); diff != "" {
				t.Errorf("DecideRaise blocking instances (-want +got):\n%s", diff)
			}
			if !strings.Contains(d.Status.GetReason(), tc.wantReasonSubstring) {
				t.Errorf("DecideRaise reason = %q, want it to contain %q", d.Status.GetReason(), tc.wantReasonSubstring)
			}
			if d.Status.GetReason() == "" {
				t.Errorf("DecideRaise reason is empty")
			}
			if d.Raise && !v.PinManifest.IsEmpty() && !d.Target.Covers(v.PinManifest) {
				t.Errorf("DecideRaise target %s lowers the pin %s", d.Target, v.PinManifest)
			}
			if tc.wantState == rollpinv1.RaiseState_RAISE_STATE_SETTLING && d.Status.GetSettleUntil() == nil {
				t.Errorf("DecideRaise SETTLING without settle_until")
			}
		})
	}
}

func TestSettleRaiseStatusMatchesDecideRaise(t *testing.T) {
	t0 := time.Now()
	v := testView(t, "acme.volume.v1=1.3", rollpinv1.PinMode_PIN_MODE_AUTO, false, t0.Add(-time.Hour), t0, "a@acme.volume.v1=1.4")
	got := SettleRaiseStatus(time.Second)(v, t0)
	want := DecideRaise(v, t0, time.Second).Status
	if got.GetState() != want.GetState() || got.GetReason() != want.GetReason() {
		t.Errorf("SettleRaiseStatus = %v, want %v", got, want)
	}
}

func BenchmarkDecideRaise(b *testing.B) {
	for _, n := range []int{3, 1000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			insts := make([]string, n)
			for i := range insts {
				insts[i] = fmt.Sprintf("i%d@acme.volume.v1=1.4", i)
			}
			t0 := time.Now()
			v := testView(b, "acme.volume.v1=1.3", rollpinv1.PinMode_PIN_MODE_AUTO, false, t0.Add(-time.Hour), t0.Add(-time.Hour), insts...)
			b.ReportAllocs()
			for b.Loop() {
				DecideRaise(v, t0, time.Second)
			}
		})
	}
}
