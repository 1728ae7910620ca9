package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// background runs pindctl until ctx ends; the returned channel yields its
// exit code.
func background(ctx context.Context, out, errb *syncBuffer, args ...string) <-chan int {
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, args, streams{Out: out, Err: errb, Getenv: func(string) string { return "" }})
	}()
	return done
}

// waitOutput waits until buf holds want (or fails the test after 20 s).
func waitOutput(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(buf.String(), want) {
		select {
		case <-deadline:
			t.Fatalf("output never contained %q; it is:\n%s", want, buf.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestWatchSeesAnotherPindctl(t *testing.T) {
	p := startPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	p.register(t, "vol-b", "acme.volume.v1=1.4", volSvc)
	expect(t, p.admin(t, "pin", "set", "VolumeService", "1.3"), exitOK, "none -> 1.3")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := background(ctx, &out, &errb, "--endpoints", p.addr, "watch")
	waitOutput(t, &out, volSvc+" pin=1.3 floor=1.3 mode=auto hold=- instances=1.3:1,1.4:1")

	expect(t, p.admin(t, "hold", "VolumeService", "--reason", "freeze for the demo"), exitOK, "held")
	waitOutput(t, &out, `hold=-->"freeze for the demo (admin-token)"`)
	expect(t, p.admin(t, "pin", "lower", "VolumeService", "1.2", "--reason", "roll back"), exitOK, "1.3 -> 1.2")
	waitOutput(t, &out, "pin=1.3->1.2 by=admin-token")
	p.register(t, "vol-c", "acme.volume.v1=1.4", volSvc)
	waitOutput(t, &out, "instances=1.3:1,1.4:1->1.3:1,1.4:2")

	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("watch ended by its context: exit code %d, want 0 (stderr %q)", code, errb.String())
	}
	golden(t, "watch", out.String())
}

func TestWatchJSON(t *testing.T) {
	p := startPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := background(ctx, &out, &errb, "--endpoints", p.addr, "-o", "json", "watch")
	waitOutput(t, &out, "\n")
	expect(t, p.admin(t, "mode", "VolumeService", "manual"), exitOK, "-> manual")
	waitOutput(t, &out, "PIN_MODE_MANUAL")
	cancel()
	<-done
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var first, last rollpinv1.WatchPinsResponse
	decodeJSON(t, lines[0], &first)
	decodeJSON(t, lines[len(lines)-1], &last)
	if !first.GetUpdate().GetSnapshot() || len(first.GetUpdate().GetServices()) != 1 {
		t.Errorf("first watch line = %v, want a snapshot of one service", &first)
	}
	if last.GetUpdate().GetSnapshot() || last.GetUpdate().GetRevision() <= first.GetUpdate().GetRevision() ||
		last.GetUpdate().GetServices()[0].GetPin().GetMode() != rollpinv1.PinMode_PIN_MODE_MANUAL {
		t.Errorf("last watch line = %v, want a later change to MANUAL", &last)
	}
}

func TestEndpointsFailOver(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	p1, p2 := startPindOn(t, cli), startPindOn(t, cli)
	p2.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	p1.waitFor(t, "vol-a on the first pind", func(r *rollpinv1.GetPinsResponse) bool { return len(r.GetServices()) == 1 })
	endpoints := p1.addr + "," + p2.addr

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := background(ctx, &out, &errb, "--endpoints", endpoints, "watch")
	waitOutput(t, &out, volSvc+" pin=-")

	// The first pind goes away: watch reconnects to the second and resumes.
	p1.stop()
	waitOutput(t, &errb, "pindctl: lost pind")
	r := pindctl(t, map[string]string{"PINDCTL_TOKEN": testToken, "PINDCTL_INSECURE_TOKEN": "true", "PINDCTL_ENDPOINTS": endpoints}, "pin", "set", "VolumeService", "1.3")
	expect(t, r, exitOK, "pin of "+volSvc+": none -> 1.3")
	waitOutput(t, &out, "pin=-->1.3 by=admin-token")

	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("watch exit code = %d, want 0 (stderr %q)", code, errb.String())
	}
	r = pindctl(t, nil, "--endpoints", endpoints, "status")
	expect(t, r, exitOK, volSvc+"  1.3")
}

func TestHoldReleaseAutoRaise(t *testing.T) {
	p := startPindWith(t, etcdtest.Start(t).Client(t), []pinsvc.Option{pinsvc.WithSettle(300 * time.Millisecond)}, nil, nil)
	leaveA := p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	// pind creates the pin of a new service at its floor once it settles.
	p.waitFor(t, "the pin created at 1.3", func(r *rollpinv1.GetPinsResponse) bool {
		return len(r.GetServices()) == 1 && r.GetServices()[0].GetPin().GetManifest() == "acme.volume.v1=1.3"
	})
	expect(t, p.ctl(t, nil, "hold", "VolumeService", "--reason", "canary"), exitOK, "held "+volSvc+" at 1.3")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := background(ctx, &out, &errb, "--endpoints", p.addr, "watch")
	waitOutput(t, &out, volSvc+" pin=1.3")

	p.register(t, "vol-b", "acme.volume.v1=1.4", volSvc)
	// pind coalesces instance churn that moves no cap (up to 100ms): let the
	// watch print vol-b's arrival before vol-a leaves, so that the two are
	// two updates.
	waitOutput(t, &out, "instances=1.3:1->1.3:1,1.4:1")
	leaveA()
	waitOutput(t, &out, "floor=1.3->1.4 instances=1.3:1,1.4:1->1.4:1")
	r := p.ctl(t, nil, "status", "VolumeService")
	expect(t, r, exitOK, "held by ")
	if got := p.pinOf(t, volSvc); got != "acme.volume.v1=1.3" {
		t.Fatalf("held pin = %q, want it to stay at 1.3", got)
	}

	expect(t, p.ctl(t, nil, "release", "VolumeService"), exitOK, "released "+volSvc+": automatic raises resume")
	waitOutput(t, &out, "pin=1.3->1.4 by=controller")
	cancel()
	<-done
	r = p.ctl(t, nil, "status", "VolumeService")
	expect(t, r, exitOK, "up-to-date")
}

func TestWatchYAML(t *testing.T) {
	p := startPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := background(ctx, &out, &errb, "--endpoints", p.addr, "-o", "yaml", "watch")
	waitOutput(t, &out, "snapshot: true")
	expect(t, p.admin(t, "hold", "VolumeService", "--reason", "yaml"), exitOK, "held")
	waitOutput(t, &out, "reason: yaml")
	cancel()
	<-done
	docs := strings.Split(out.String(), "---\n")
	if len(docs) < 3 || docs[0] != "" {
		t.Fatalf("watch -o yaml printed %d documents, want a snapshot and a change, each after ---:\n%s", len(docs)-1, out.String())
	}
	var first, last rollpinv1.WatchPinsResponse
	decodeYAML(t, docs[1], &first)
	decodeYAML(t, docs[len(docs)-1], &last)
	if !first.GetUpdate().GetSnapshot() || last.GetUpdate().GetServices()[0].GetPin().GetHold().GetReason() != "yaml" {
		t.Errorf("watch -o yaml: first %v, last %v; want a snapshot, then the hold", &first, &last)
	}
}
