package main

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// handStates is a fleet in the middle of an upgrade, built by hand.
func handStates() []*rollpinv1.ServiceState {
	at := timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	inst := func(svc, id, m string) *rollpinv1.Instance {
		return &rollpinv1.Instance{Id: id, Service: svc, Manifest: m, Build: "v" + m[strings.IndexByte(m, '=')+1:], Address: id + ":9000", StartedAt: at}
	}
	vol := "acme.volume.v1.VolumeService"
	return []*rollpinv1.ServiceState{
		{
			Service:     "acme.billing.v2.BillingService",
			Pin:         &rollpinv1.Pin{Manifest: "acme.billing.v2=2.1", Mode: rollpinv1.PinMode_PIN_MODE_MANUAL},
			PinRevision: 7,
			Floor:       "acme.billing.v2=2.2",
			Instances:   []*rollpinv1.Instance{inst("acme.billing.v2.BillingService", "bill-0", "acme.billing.v2=2.2")},
			Versions:    []*rollpinv1.VersionGroup{{Manifest: "acme.billing.v2=2.2", InstanceIds: []string{"bill-0"}}},
			Raise:       &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_MANUAL, Reason: "mode is manual: raise with pindctl pin set"},
		},
		{
			Service: "acme.empty.v1.EmptyService",
			Raise:   &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_NO_INSTANCES},
		},
		{
			Service:     vol,
			Pin:         &rollpinv1.Pin{Manifest: "acme.volume.v1=1.3", Mode: rollpinv1.PinMode_PIN_MODE_AUTO, Hold: &rollpinv1.PinHold{Reason: "canary until Monday", By: "alice", At: at}},
			PinRevision: 12,
			Floor:       "acme.volume.v1=1.3",
			Instances: []*rollpinv1.Instance{
				inst(vol, "vol-a", "acme.volume.v1=1.3"),
				inst(vol, "vol-b", "acme.volume.v1=1.4"),
				inst(vol, "vol-c", "acme.volume.v1=1.4"),
			},
			Versions: []*rollpinv1.VersionGroup{
				{Manifest: "acme.volume.v1=1.3", InstanceIds: []string{"vol-a"}},
				{Manifest: "acme.volume.v1=1.4", InstanceIds: []string{"vol-b", "vol-c"}},
			},
			Raise: &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_BLOCKED, BlockingInstances: []string{"vol-a"}},
		},
		{
			Service:     "acme.types.v1.Types",
			Pin:         &rollpinv1.Pin{Manifest: "acme.common.v1=1.0,acme.types.v1=2.0"},
			PinRevision: 3,
			Floor:       "acme.common.v1=1.0,acme.types.v1=2.1",
			Versions:    []*rollpinv1.VersionGroup{{Manifest: "acme.common.v1=1.0,acme.types.v1=2.1", InstanceIds: []string{"t-0", "t-1"}}},
			Raise:       &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_SETTLING, SettleUntil: at},
		},
	}
}

func TestStatusTableHandBuilt(t *testing.T) {
	var b strings.Builder
	if err := writeStatusTable(&b, handStates()); err != nil {
		t.Fatal(err)
	}
	golden(t, "status_handbuilt", b.String())
}

func TestInstancesTableHandBuilt(t *testing.T) {
	var insts []*rollpinv1.Instance
	for _, st := range handStates() {
		insts = append(insts, st.GetInstances()...)
	}
	var b strings.Builder
	if err := writeInstancesTable(&b, insts); err != nil {
		t.Fatal(err)
	}
	golden(t, "instances_handbuilt", b.String())
}

func TestProgressAndVersions(t *testing.T) {
	states := handStates()
	tests := []struct {
		st                      *rollpinv1.ServiceState
		progress, versions, pin string
	}{
		{states[0], "1/1 at 2.2", "2.2:1", "2.1"},
		{states[1], "-", "-", "-"},
		{states[2], "2/3 at 1.4", "1.3:1 1.4:2", "1.3"},
		{states[3], "2/2 at 2.1+acme.common.v1=1.0", "2.1+acme.common.v1=1.0:2", "2.0+acme.common.v1=1.0"},
	}
	for _, tc := range tests {
		if got := progressText(tc.st); got != tc.progress {
			t.Errorf("progressText(%s) = %q, want %q", tc.st.GetService(), got, tc.progress)
		}
		if got := versionsText(tc.st); got != tc.versions {
			t.Errorf("versionsText(%s) = %q, want %q", tc.st.GetService(), got, tc.versions)
		}
		if got := shortManifest(tc.st.GetService(), tc.st.GetPin().GetManifest()); got != tc.pin {
			t.Errorf("shortManifest(%s pin) = %q, want %q", tc.st.GetService(), got, tc.pin)
		}
	}
}

func TestRaiseText(t *testing.T) {
	states := handStates()
	tests := []struct {
		st   *rollpinv1.ServiceState
		want string
	}{
		{states[0], "manual: mode is manual: raise with pindctl pin set"},
		{states[1], "no-instances"},
		{states[2], "blocked (waiting for vol-a)"},
		{states[3], "settling: until 2026-03-01T12:00:00Z"},
		{&rollpinv1.ServiceState{Raise: &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_BLOCKED, Reason: "vol-a runs 1.3", BlockingInstances: []string{"vol-a"}}}, "blocked: vol-a runs 1.3"},
		{&rollpinv1.ServiceState{}, "-"},
	}
	for _, tc := range tests {
		if got := raiseText(tc.st); got != tc.want {
			t.Errorf("raiseText(%s) = %q, want %q", tc.st.GetService(), got, tc.want)
		}
	}
}

func TestResolveService(t *testing.T) {
	known := []string{
		"acme.volume.v1.VolumeService",
		"acme.volume.v2.VolumeService",
		"acme.billing.v1.BillingService",
		"other.Service",
	}
	tests := []struct {
		name      string
		want      string
		wantUsage bool // ambiguous: exit code 2
		wantErr   string
	}{
		{name: "BillingService", want: "acme.billing.v1.BillingService"},
		{name: "v1.VolumeService", want: "acme.volume.v1.VolumeService"},
		{name: "acme.volume.v2.VolumeService", want: "acme.volume.v2.VolumeService"},
		{name: "Service", want: "other.Service"},
		{name: "VolumeService", wantUsage: true, wantErr: "ambiguous; it matches acme.volume.v1.VolumeService, acme.volume.v2.VolumeService"},
		{name: "illingService", wantErr: `no service matches "illingService"; known services:`},
		{name: "acme.new.v1.NewService", want: "acme.new.v1.NewService"},
		{name: "", wantUsage: true, wantErr: "empty service name"},
	}
	for _, tc := range tests {
		got, err := resolveService(tc.name, known)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("resolveService(%q) = %q, %v; want error containing %q", tc.name, got, err, tc.wantErr)
				continue
			}
			if wantCode := map[bool]int{true: exitUsage, false: exitFailed}[tc.wantUsage]; exitCode(err) != wantCode {
				t.Errorf("exitCode(resolveService(%q)) = %d, want %d", tc.name, exitCode(err), wantCode)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("resolveService(%q) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestParseTarget(t *testing.T) {
	cur := backport.MustManifest(backport.Entry{Track: "acme.types.v1", Version: backport.Version{Major: 2}}, backport.Entry{Track: "acme.volume.v1", Version: backport.Version{Major: 1, Minor: 3}})
	tests := []struct {
		arg  string
		cur  backport.Manifest
		want string
		bad  bool
	}{
		{arg: "1.4", want: "acme.volume.v1=1.4"},
		{arg: "1.4", cur: cur, want: "acme.types.v1=2.0,acme.volume.v1=1.4"},
		{arg: "acme.volume.v1=1.4,acme.types.v1=2.1", cur: cur, want: "acme.types.v1=2.1,acme.volume.v1=1.4"},
		{arg: "acme.volume.v1=1.2", cur: cur, want: "acme.volume.v1=1.2"},
		{arg: "1", bad: true},
		{arg: "v1.4", bad: true},
		{arg: "acme.volume.v1=x", bad: true},
	}
	for _, tc := range tests {
		got, err := parseTarget("acme.volume.v1.VolumeService", tc.arg, tc.cur)
		if tc.bad {
			if exitCode(err) != exitUsage {
				t.Errorf("parseTarget(%q) = %v, %v; want a usage error", tc.arg, got, err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("parseTarget(%q, %v) = %v, %v; want %s", tc.arg, tc.cur, got, err, tc.want)
		}
	}
}

func TestWatchLinesHandBuilt(t *testing.T) {
	states := handStates()
	w := &watchPrinter{a: newApp(streams{}), known: map[string]*rollpinv1.ServiceState{}}
	var lines []string
	lines = append(lines, w.lines(&rollpinv1.PinUpdate{Revision: 10, Snapshot: true, Services: states[:3]})...)

	// The last old instance upgrades: the floor rises and the raise settles.
	vol := cloneState(states[2])
	vol.Floor = "acme.volume.v1=1.4"
	vol.Versions = vol.Versions[1:]
	vol.Versions[0].InstanceIds = []string{"vol-a", "vol-b", "vol-c"}
	vol.Raise = &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_HELD, Reason: "held by alice"}
	lines = append(lines, w.lines(&rollpinv1.PinUpdate{Revision: 11, Services: []*rollpinv1.ServiceState{vol}})...)

	// Released and raised by the controller.
	vol = cloneState(vol)
	vol.Pin.Hold = nil
	vol.Pin.Manifest = "acme.volume.v1=1.4"
	vol.Pin.UpdatedBy = "controller"
	vol.Raise = &rollpinv1.RaiseStatus{State: rollpinv1.RaiseState_RAISE_STATE_UP_TO_DATE}
	lines = append(lines, w.lines(&rollpinv1.PinUpdate{Revision: 12, Services: []*rollpinv1.ServiceState{vol}})...)

	// Nothing visible changed: no line.
	lines = append(lines, w.lines(&rollpinv1.PinUpdate{Revision: 13, Services: []*rollpinv1.ServiceState{cloneState(vol)}})...)

	// A new service, a removed one.
	lines = append(lines, w.lines(&rollpinv1.PinUpdate{Revision: 14, Services: states[3:], Removed: []string{"acme.empty.v1.EmptyService"}})...)

	// A snapshot after a compaction: only the differences, and what vanished.
	lines = append(lines, w.lines(&rollpinv1.PinUpdate{Revision: 20, Snapshot: true, Services: []*rollpinv1.ServiceState{vol}})...)

	want := []string{
		`rev 10 acme.billing.v2.BillingService pin=2.1 floor=2.2 mode=manual hold=- instances=2.2:1 raise="manual: mode is manual: raise with pindctl pin set"`,
		`rev 10 acme.empty.v1.EmptyService pin=- floor=- mode=- hold=- instances=- raise=no-instances`,
		`rev 10 acme.volume.v1.VolumeService pin=1.3 floor=1.3 mode=auto hold="canary until Monday (alice)" instances=1.3:1,1.4:2 raise="blocked (waiting for vol-a)"`,
		`rev 11 acme.volume.v1.VolumeService floor=1.3->1.4 instances=1.3:1,1.4:2->1.4:3 raise=blocked->held`,
		`rev 12 acme.volume.v1.VolumeService pin=1.3->1.4 by=controller hold="canary until Monday (alice)"->- raise=held->up-to-date`,
		`rev 14 acme.types.v1.Types new pin=2.0+acme.common.v1=1.0 floor=2.1+acme.common.v1=1.0 mode=auto hold=- instances=2.1+acme.common.v1=1.0:2 raise="settling: until 2026-03-01T12:00:00Z"`,
		`rev 14 acme.empty.v1.EmptyService removed`,
		`rev 20 acme.billing.v2.BillingService removed`,
		`rev 20 acme.types.v1.Types removed`,
	}
	if got, want := strings.Join(lines, "\n"), strings.Join(want, "\n"); got != want {
		t.Errorf("watch lines:\n%s\nwant:\n%s", got, want)
	}
}

func cloneState(st *rollpinv1.ServiceState) *rollpinv1.ServiceState {
	return proto.Clone(st).(*rollpinv1.ServiceState)
}
