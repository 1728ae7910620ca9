package main

import (
	"context"
	"strings"
	"testing"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestWaitTimesOutNamingTheBlockers(t *testing.T) {
	p := startPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	p.register(t, "vol-b", "acme.volume.v1=1.4", volSvc)
	expect(t, p.admin(t, "pin", "set", "VolumeService", "1.3"), exitOK, "none -> 1.3")

	r := p.ctl(t, nil, "wait", "VolumeService", "--for", "pin=1.4", "--for", "floor=1.4", "--timeout", "300ms")
	expect(t, r, exitFailed, "timed out after 300ms waiting for "+volSvc+" pin=1.4 floor=1.4: pin is 1.3; instances below 1.4: vol-a runs 1.3; floor is 1.3")

	expect(t, p.admin(t, "hold", "VolumeService", "--reason", "canary"), exitOK, "held")
	r = p.ctl(t, nil, "-o", "json", "wait", "VolumeService", "--for", "cap=1.4", "--timeout", "300ms")
	expect(t, r, exitFailed, "held: canary (admin-token) (pindctl release "+volSvc+")")
	var st rollpinv1.ServiceState
	decodeJSON(t, r.out, &st)
	if st.GetService() != volSvc || st.GetPin().GetManifest() != "acme.volume.v1=1.3" {
		t.Errorf("wait -o json printed %v, want the last state of %s", &st, volSvc)
	}
}

func TestWaitEndsWhenTheConditionsHold(t *testing.T) {
	p := startPind(t)
	leaveA := p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	p.register(t, "vol-b", "acme.volume.v1=1.4", volSvc)
	expect(t, p.admin(t, "pin", "set", "VolumeService", "1.3"), exitOK, "none -> 1.3")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := background(ctx, &out, &errb, "--endpoints", p.addr, "-o", "json", "wait", "VolumeService", "--for", "floor=1.4", "--for", "pin=1.4", "--timeout", "1m")

	leaveA()
	p.waitFor(t, "the floor at 1.4", func(r *rollpinv1.GetPinsResponse) bool {
		return len(r.GetServices()) == 1 && r.GetServices()[0].GetFloor() == "acme.volume.v1=1.4"
	})
	// The floor alone does not end the wait: the pin is still 1.3.
	select {
	case code := <-done:
		t.Fatalf("wait ended (exit %d) with the pin at 1.3\nstderr: %s", code, errb.String())
	default:
	}
	expect(t, p.admin(t, "pin", "set", "VolumeService", "1.4"), exitOK, "1.3 -> 1.4")
	if code := <-done; code != exitOK {
		t.Fatalf("wait exit code = %d, want 0\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	var st rollpinv1.ServiceState
	decodeJSON(t, out.String(), &st)
	if st.GetPin().GetManifest() != "acme.volume.v1=1.4" || st.GetFloor() != "acme.volume.v1=1.4" {
		t.Errorf("wait printed %v, want pin and floor at 1.4", &st)
	}

	// Text output, and a service named by its full name before it exists.
	r := p.ctl(t, nil, "wait", "VolumeService", "--for", "pin=1.4")
	expect(t, r, exitOK, volSvc+": pin=1.4 (pin 1.4, floor 1.4) at revision ")
	r = p.ctl(t, nil, "wait", "acme.other.v1.Other", "--for", "pin=1.0", "--timeout", "200ms")
	expect(t, r, exitFailed, "pind knows no service acme.other.v1.Other yet")
}

func TestWaitUsage(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"wait VolumeService", "wait needs at least one --for condition"},
		{"wait VolumeService --for pin", `--for "pin": give pin=VERSION`},
		{"wait VolumeService --for size=3", `unknown property "size"`},
		{"wait VolumeService --for pin=1.x", `--for "pin=1.x"`},
		{"wait VolumeService --for pin=1.4 --timeout -1s", "--timeout must not be negative"},
	} {
		r := pindctl(t, nil, strings.Fields(tc.args)...)
		expect(t, r, exitUsage, tc.want)
	}
}

func TestStatusWatchRedraws(t *testing.T) {
	p := startPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := background(ctx, &out, &errb, "--endpoints", p.addr, "status", "--watch", "VolumeService")
	waitOutput(t, &out, "SERVICE")
	expect(t, p.admin(t, "hold", "VolumeService", "--reason", "canary"), exitOK, "held")
	waitOutput(t, &out, "canary (admin-token)")
	if n := strings.Count(out.String(), "SERVICE "); n < 2 {
		t.Errorf("status --watch printed %d tables, want one per change:\n%s", n, out.String())
	}

	var jout, jerr syncBuffer
	jdone := background(ctx, &jout, &jerr, "--endpoints", p.addr, "-o", "json", "status", "--watch")
	waitOutput(t, &jout, "\n")
	cancel()
	<-done
	<-jdone
	var snap rollpinv1.GetPinsResponse
	decodeJSON(t, strings.SplitN(jout.String(), "\n", 2)[0], &snap)
	if len(snap.GetServices()) != 1 || snap.GetServices()[0].GetPin().GetHold().GetReason() != "canary" || snap.GetRevision() == 0 {
		t.Errorf("status --watch -o json first line = %v, want the held service and a revision", &snap)
	}
}
