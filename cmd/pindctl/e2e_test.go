package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

const (
	volSvc   = "acme.volume.v1.VolumeService"
	bill1Svc = "acme.billing.v1.BillingService"
	bill2Svc = "acme.billing.v2.BillingService"
)

// startFleet starts pind with a fleet in the middle of an upgrade: two
// volume instances on 1.3, one on 1.4, and two billing services whose short
// names collide.
func startFleet(t *testing.T) *testPind {
	p := startPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	p.register(t, "vol-b", "acme.volume.v1=1.3", volSvc)
	p.register(t, "vol-c", "acme.volume.v1=1.4", volSvc)
	p.register(t, "bill-1", "acme.billing.v1=2.0", bill1Svc)
	p.register(t, "bill-2", "acme.billing.v2=1.0", bill2Svc)
	return p
}

// pinOf returns the manifest of the stored pin of service.
func (p *testPind) pinOf(t *testing.T, service string) string {
	t.Helper()
	return p.state(t, service).GetPin().GetManifest()
}

// decodeJSON parses protojson output into msg.
func decodeJSON(t *testing.T, out string, msg proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(out), msg); err != nil {
		t.Fatalf("output is not a %T in JSON: %v\n%s", msg, err, out)
	}
}

// decodeYAML parses YAML output (protojson converted to YAML) into msg.
func decodeYAML(t *testing.T, out string, msg proto.Message) {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(out))
	if err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out)
	}
	decodeJSON(t, string(j), msg)
}

func TestOperatorWorkflow(t *testing.T) {
	p := startFleet(t)

	t.Run("status before any pin", func(t *testing.T) {
		r := p.ctl(t, nil, "status")
		expect(t, r, exitOK, volSvc)
		golden(t, "status_unpinned", r.out)
	})

	t.Run("writes need the token", func(t *testing.T) {
		r := p.ctl(t, nil, "pin", "set", "VolumeService", "1.3")
		expect(t, r, exitFailed, "pass an admin token with --token")
		r = p.ctl(t, nil, "--token", "wrong", "pin", "set", "VolumeService", "1.3")
		expect(t, r, exitFailed, "not allowed to set the pin of "+volSvc)
		if got := p.pinOf(t, volSvc); got != "" {
			t.Errorf("pin after refused writes = %q, want none", got)
		}
	})

	t.Run("create pins at the floor", func(t *testing.T) {
		r := p.admin(t, "pin", "set", "VolumeService", "1.3", "--reason", "start of the 1.4 upgrade")
		expect(t, r, exitOK, "pin of "+volSvc+": none -> 1.3")
		r = p.ctl(t, nil, "--token", testToken, "pin", "set", bill1Svc, "2.0")
		expect(t, r, exitOK, "pin of "+bill1Svc+": none -> 2.0")
		r = p.admin(t, "pin", "set", "v2.BillingService", "acme.billing.v2=1.0")
		expect(t, r, exitOK, "pin of "+bill2Svc+": none -> 1.0")
		if got := p.pinOf(t, volSvc); got != "acme.volume.v1=1.3" {
			t.Errorf("pin of %s = %q, want acme.volume.v1=1.3", volSvc, got)
		}
		r = p.admin(t, "pin", "set", "VolumeService", "1.3")
		expect(t, r, exitOK, "pin of "+volSvc+" is already 1.3; nothing to do")
	})

	t.Run("status table", func(t *testing.T) {
		r := p.ctl(t, nil, "status")
		expect(t, r, exitOK, "1/3 at 1.4")
		golden(t, "status", r.out)
		r = p.ctl(t, nil, "status", "VolumeService")
		expect(t, r, exitOK, volSvc)
		golden(t, "status_volume", r.out)
	})

	t.Run("status json and yaml", func(t *testing.T) {
		var fromJSON, fromYAML rollpinv1.GetPinsResponse
		r := p.ctl(t, nil, "-o", "json", "status")
		expect(t, r, exitOK, `"services"`)
		decodeJSON(t, r.out, &fromJSON)
		r = p.ctl(t, map[string]string{"PINDCTL_OUTPUT": "yaml"}, "status")
		expect(t, r, exitOK, "services:")
		decodeYAML(t, r.out, &fromYAML)
		for _, resp := range []*rollpinv1.GetPinsResponse{&fromJSON, &fromYAML} {
			if got := serviceNames(resp.GetServices()); strings.Join(got, ",") != bill1Svc+","+bill2Svc+","+volSvc {
				t.Errorf("services = %v, want %s, %s, %s", got, bill1Svc, bill2Svc, volSvc)
			}
			vol := resp.GetServices()[2]
			if vol.GetPin().GetManifest() != "acme.volume.v1=1.3" || vol.GetFloor() != "acme.volume.v1=1.3" || len(vol.GetInstances()) != 3 || vol.GetPinRevision() == 0 {
				t.Errorf("volume state = %v, want pin and floor 1.3, 3 instances, a pin revision", vol)
			}
		}
		r = p.ctl(t, nil, "-o", "json", "status", "BillingService")
		expect(t, r, exitUsage, "ambiguous; it matches "+bill1Svc+", "+bill2Svc)
	})

	t.Run("name resolution", func(t *testing.T) {
		r := p.ctl(t, nil, "status", "BillingService")
		expect(t, r, exitUsage, `service name "BillingService" is ambiguous; it matches `+bill1Svc+", "+bill2Svc+": give more of the name")
		r = p.admin(t, "hold", "BillingService", "--reason", "x")
		expect(t, r, exitUsage, "ambiguous")
		r = p.ctl(t, nil, "status", "v1.BillingService")
		expect(t, r, exitOK, bill1Svc)
		if strings.Contains(r.out, bill2Svc) {
			t.Errorf("status v1.BillingService shows %s:\n%s", bill2Svc, r.out)
		}
		r = p.ctl(t, nil, "status", "illingService")
		expect(t, r, exitFailed, `no service matches "illingService"; known services: `)
		r = p.ctl(t, nil, "status", "acme.nosuch.v1.NoService")
		expect(t, r, exitFailed, "pind knows no service acme.nosuch.v1.NoService")
		r = p.admin(t, "pin", "set", "acme.nosuch.v1.NoService", "1.0")
		expect(t, r, exitFailed, "pass --force to create its pin")
		r = p.ctl(t, nil, "instances", "acme.nosuch.v1.NoService")
		expect(t, r, exitFailed, "pind knows no service acme.nosuch.v1.NoService")
		r = p.admin(t, "pin", "lower", "acme.nosuch.v1.NoService", "1.0")
		expect(t, r, exitFailed, "refused: acme.nosuch.v1.NoService has no pin to lower; use `pindctl pin set` to create one")

		// A pin for a service that has no instance yet needs --force.
		r = p.admin(t, "pin", "set", "acme.next.v1.NextService", "1.0", "--force")
		expect(t, r, exitOK, "pin of acme.next.v1.NextService: none -> 1.0")
		r = p.ctl(t, nil, "status", "NextService")
		expect(t, r, exitOK, "no-instances")
		r = p.ctl(t, nil, "instances", "NextService")
		if r.code != exitOK || strings.TrimSpace(r.out) != "SERVICE  INSTANCE  VERSION  BUILD  ADDRESS  STARTED" {
			t.Errorf("instances of a service without instances = exit %d, %q; want only the header", r.code, r.out)
		}
	})

	t.Run("instances", func(t *testing.T) {
		r := p.ctl(t, nil, "instances")
		expect(t, r, exitOK, "vol-c")
		golden(t, "instances", r.out)
		r = p.ctl(t, nil, "instances", "VolumeService")
		expect(t, r, exitOK, "vol-a")
		golden(t, "instances_volume", r.out)
		var resp rollpinv1.ListInstancesResponse
		r = p.ctl(t, nil, "-o", "json", "instances", "VolumeService")
		decodeJSON(t, r.out, &resp)
		if len(resp.GetInstances()) != 3 {
			t.Errorf("instances -o json VolumeService = %d instances, want 3", len(resp.GetInstances()))
		}
		r = p.ctl(t, nil, "-o", "yaml", "instances", bill1Svc)
		resp.Reset()
		decodeYAML(t, r.out, &resp)
		if len(resp.GetInstances()) != 1 || resp.GetInstances()[0].GetId() != "bill-1" {
			t.Errorf("instances -o yaml %s = %v, want bill-1", bill1Svc, resp.GetInstances())
		}
	})

	t.Run("raise above the floor is refused", func(t *testing.T) {
		r := p.admin(t, "pin", "set", "VolumeService", "1.4")
		expect(t, r, exitFailed, "refused: floor of "+volSvc+" is 1.3 because instances vol-a,vol-b run 1.3; wait for the upgrade, or --force")
		if got := p.pinOf(t, volSvc); got != "acme.volume.v1=1.3" {
			t.Errorf("pin after a refused raise = %q, want acme.volume.v1=1.3", got)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		r := p.admin(t, "pin", "set", "VolumeService", "1.4", "--dry-run")
		expect(t, r, exitOK, "dry run")
		golden(t, "pin_set_dry_run", r.out)
		var resp rollpinv1.SetPinResponse
		r = p.admin(t, "-o", "json", "pin", "set", "VolumeService", "1.4", "--dry-run")
		decodeJSON(t, r.out, &resp)
		if !resp.GetChanged() || len(resp.GetBlocking()) != 2 {
			t.Errorf("dry run response = %v, want changed with 2 blocking instances", &resp)
		}
		if got := p.pinOf(t, volSvc); got != "acme.volume.v1=1.3" {
			t.Errorf("pin after a dry run = %q, want acme.volume.v1=1.3", got)
		}
	})

	t.Run("hold and release", func(t *testing.T) {
		r := p.admin(t, "hold", "VolumeService", "--reason", "canary 1.4 until Monday")
		expect(t, r, exitOK, "held "+volSvc+" at 1.3: canary 1.4 until Monday")
		golden(t, "hold", r.out)
		if h := p.state(t, volSvc).GetPin().GetHold(); h.GetReason() != "canary 1.4 until Monday" {
			t.Errorf("hold after pindctl hold = %v", h)
		}
		r = p.ctl(t, nil, "status", "VolumeService")
		expect(t, r, exitOK, "canary 1.4 until Monday (admin-token)")
		golden(t, "status_held", r.out)

		var resp rollpinv1.ReleaseResponse
		r = p.admin(t, "-o", "yaml", "release", "VolumeService")
		decodeYAML(t, r.out, &resp)
		if resp.GetState().GetPin().GetHold() != nil {
			t.Errorf("release -o yaml state still held: %v", resp.GetState())
		}
		r = p.admin(t, "release", "VolumeService")
		expect(t, r, exitOK, volSvc+" was not held; nothing to do")
	})

	t.Run("mode", func(t *testing.T) {
		r := p.admin(t, "mode", "VolumeService", "manual")
		expect(t, r, exitOK, "mode of "+volSvc+": auto -> manual")
		if m := p.state(t, volSvc).GetPin().GetMode(); m != rollpinv1.PinMode_PIN_MODE_MANUAL {
			t.Errorf("mode after pindctl mode manual = %v", m)
		}
		r = p.admin(t, "mode", "VolumeService", "manual")
		expect(t, r, exitOK, "mode of "+volSvc+" is already manual; nothing to do")
		var held rollpinv1.HoldResponse
		r = p.admin(t, "-o", "json", "hold", "VolumeService", "--reason", "r")
		decodeJSON(t, r.out, &held)
		if held.GetState().GetPin().GetHold().GetReason() != "r" {
			t.Errorf("hold -o json state = %v, want held for r", held.GetState())
		}
		r = p.admin(t, "release", "VolumeService")
		expect(t, r, exitOK, "released "+volSvc+": the mode is manual: only an operator raises the pin (pindctl mode VolumeService auto)")
		var resp rollpinv1.SetModeResponse
		r = p.admin(t, "-o", "json", "mode", "VolumeService", "auto")
		decodeJSON(t, r.out, &resp)
		if m := resp.GetState().GetPin().GetMode(); m != rollpinv1.PinMode_PIN_MODE_AUTO {
			t.Errorf("mode -o json auto: state mode = %v", m)
		}
	})

	t.Run("concurrent write", func(t *testing.T) {
		sneak := func(ctx context.Context) {
			if _, err := p.srv.Hold(ctx, &rollpinv1.HoldRequest{Service: volSvc, Reason: "another operator"}); err != nil {
				t.Errorf("concurrent Hold: %v", err)
			}
		}
		p.sneak.Store(&sneak)
		r := p.admin(t, "pin", "set", "VolumeService", "1.2", "--reason", "race")
		expect(t, r, exitFailed, "pin changed since read; run again")
		st := p.state(t, volSvc)
		if st.GetPin().GetManifest() != "acme.volume.v1=1.3" || st.GetPin().GetHold().GetReason() != "another operator" {
			t.Errorf("after the lost race: pin %v, want 1.3 held by the other operator", st.GetPin())
		}
		r = p.admin(t, "release", "VolumeService")
		expect(t, r, exitOK, "released")
	})

	t.Run("roll back with pin lower", func(t *testing.T) {
		r := p.admin(t, "pin", "lower", "VolumeService", "1.4")
		expect(t, r, exitFailed, "refused: 1.4 would raise the pin of "+volSvc+" (now 1.3) on acme.volume.v1=1.4: pin lower never raises; use `pindctl pin set` to raise")
		r = p.admin(t, "pin", "lower", "VolumeService", "1.2", "--dry-run")
		expect(t, r, exitOK, "dry run: the pin of "+volSvc+" would go from 1.3 to 1.2")
		r = p.admin(t, "pin", "lower", "VolumeService", "1.2", "--reason", "roll back 1.4")
		expect(t, r, exitOK, "pin of "+volSvc+": 1.3 -> 1.2")
		golden(t, "pin_lower", r.out)
		st := p.state(t, volSvc)
		if st.GetPin().GetManifest() != "acme.volume.v1=1.2" || st.GetPin().GetReason() != "roll back 1.4" {
			t.Errorf("pin after pin lower = %v, want 1.2 with the reason", st.GetPin())
		}
		var lowered rollpinv1.SetPinResponse
		r = p.admin(t, "-o", "yaml", "pin", "lower", "VolumeService", "1.1", "--dry-run")
		decodeYAML(t, r.out, &lowered)
		if !lowered.GetChanged() || lowered.GetState().GetPin().GetManifest() != "acme.volume.v1=1.1" || p.pinOf(t, volSvc) != "acme.volume.v1=1.2" {
			t.Errorf("pin lower -o yaml --dry-run = %v, want a change to 1.1 that is not written", &lowered)
		}
		r = p.admin(t, "pin", "lower", "VolumeService", "acme.other.v1=1.0")
		expect(t, r, exitFailed, "leaves out acme.volume.v1")
	})

	t.Run("force a raise", func(t *testing.T) {
		var resp rollpinv1.SetPinResponse
		r := p.admin(t, "-o", "json", "pin", "set", "VolumeService", "1.4", "--force", "--reason", "forced")
		decodeJSON(t, r.out, &resp)
		if !resp.GetChanged() || resp.GetState().GetPin().GetManifest() != "acme.volume.v1=1.4" {
			t.Errorf("forced raise = %v, want the pin at 1.4", &resp)
		}
		r = p.ctl(t, nil, "status", "VolumeService")
		expect(t, r, exitOK, "blocked")
		golden(t, "status_forced", r.out)
	})
}

func TestStatusOfEmptyPind(t *testing.T) {
	p := startPind(t)
	r := p.ctl(t, nil, "status")
	expect(t, r, exitOK, "pind knows no service yet")
	if strings.TrimSpace(r.out) != "SERVICE  PIN  FLOOR  MODE  INSTANCES  PROGRESS  HOLD  RAISE" {
		t.Errorf("status of an empty pind printed %q, want only the header", r.out)
	}
	r = p.ctl(t, nil, "status", "VolumeService")
	expect(t, r, exitFailed, `no service matches "VolumeService": pind knows no service yet`)
}

func TestTimeoutAndInterrupt(t *testing.T) {
	p := startPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)

	// pind stalls until the caller gives up.
	stall := func(ctx context.Context) { <-ctx.Done() }
	p.sneak.Store(&stall)
	r := p.admin(t, "--timeout", "300ms", "pin", "set", "VolumeService", "1.3", "--reason", "race")
	expect(t, r, exitFailed, "pind at "+p.addr+" did not answer within 300ms to set the pin of "+volSvc)

	// Ctrl-C (the context ends) while pind stalls.
	p.sneak.Store(&stall)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--endpoints", p.addr, "--insecure-token", "--token", testToken, "pin", "set", "VolumeService", "1.3", "--reason", "race"},
			streams{Out: &out, Err: &errb})
	}()
	for p.sneak.Load() != nil { // wait until pind holds the call
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitFailed || !strings.Contains(errb.String(), "set the pin of "+volSvc+": interrupted") {
		t.Errorf("interrupted pin set: exit %d, stderr %q; want 1 and \"interrupted\"", code, errb.String())
	}
}
