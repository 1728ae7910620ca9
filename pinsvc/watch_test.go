package pinsvc

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func lastRevision(ups []*rollpinv1.PinUpdate) int64 { return ups[len(ups)-1].GetRevision() }

func sawPin(svc, manifest string) func([]*rollpinv1.PinUpdate) bool {
	return func(ups []*rollpinv1.PinUpdate) bool { return pinsSeen(ups)[svc] == manifest }
}

func TestConcurrentStaleSetPins(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	c := ts.cli
	rev := mustSetPin(t, c, testSvc, "1.0", true).GetState().GetPinRevision()

	// Eight writers at the same revision: one wins, the others are ABORTED.
	const n = 8
	codesSeen := make([]codes.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: fmt.Sprintf("1.%d", i+1), ExpectedRevision: rev})
			codesSeen[i] = status.Code(err)
		}()
	}
	wg.Wait()
	won := 0
	for i, code := range codesSeen {
		switch code {
		case codes.OK:
			won++
		case codes.Aborted:
		default:
			t.Errorf("writer %d: code %v, want OK or ABORTED", i, code)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won at one revision, want 1 (codes %v)", won, codesSeen)
	}

	// Eight operators each add their own track with read-modify-write at the
	// revision they read, retrying when ABORTED: no change is lost. (--force:
	// no instance announces those tracks.)
	w := watch(t, c, 0)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				gp, err := c.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{Service: testSvc})
				if err != nil {
					t.Errorf("GetPins: %v", err)
					return
				}
				s := gp.GetServices()[0]
				m, _ := backport.ParseManifest(s.GetPin().GetManifest())
				m, _ = m.With(fmt.Sprintf("op%d.v1", i), backport.Version{Major: 1})
				_, err = c.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: m.String(), ExpectedRevision: s.GetPinRevision(), Force: true})
				if status.Code(err) == codes.Aborted {
					continue
				}
				if err != nil {
					t.Errorf("SetPin: %v", err)
				}
				return
			}
		}()
	}
	wg.Wait()
	gp, err := c.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{Service: testSvc})
	if err != nil {
		t.Fatal(err)
	}
	final := gp.GetServices()[0].GetPin().GetManifest()
	for i := range n {
		if !strings.Contains(final, fmt.Sprintf("op%d.v1=1.0", i)) {
			t.Errorf("final pin %q lost operator %d's change", final, i)
		}
	}
	w.waitFor(t, "the final pin", sawPin(testSvc, final))
}

func TestWatchResumeMissesNothing(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	c := ts.cli
	mustSetPin(t, c, testSvc, "1.0", true)
	w := watch(t, c, 0)
	ups := w.waitFor(t, "pin 1.0", sawPin(testSvc, "acme.volume.v1=1.0"))
	w.stop()
	from := lastRevision(ups)

	// Changes while disconnected, including a new service and a removal.
	for i := 1; i <= 5; i++ {
		mustSetPin(t, c, testSvc, fmt.Sprintf("1.%d", i), false)
	}
	mustSetPin(t, c, "acme.other.v1.Other", "2.0", true)

	w2 := watch(t, c, from)
	ups = w2.waitFor(t, "the other service", sawPin("acme.other.v1.Other", "acme.other.v1=2.0"))
	var got []string
	for _, u := range ups {
		if u.GetSnapshot() {
			t.Fatalf("resume from %d sent a snapshot: %v", from, u)
		}
		if u.GetRevision() <= from {
			t.Errorf("resume from %d sent revision %d", from, u.GetRevision())
		}
		for _, s := range u.GetServices() {
			got = append(got, s.GetPin().GetManifest())
		}
	}
	want := []string{"acme.volume.v1=1.1", "acme.volume.v1=1.2", "acme.volume.v1=1.3", "acme.volume.v1=1.4", "acme.volume.v1=1.5", "acme.other.v1=2.0"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("resumed watch saw %v, want %v", got, want)
	}
}

func TestWatchCompactedRevisionGetsSnapshot(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli, WithHistory(2, 0))
	c := ts.cli
	mustSetPin(t, c, testSvc, "1.0", true)
	w := watch(t, c, 0)
	from := lastRevision(w.waitFor(t, "pin 1.0", sawPin(testSvc, "acme.volume.v1=1.0")))
	w.stop()
	var last *rollpinv1.SetPinResponse
	for i := 1; i <= 8; i++ {
		last = mustSetPin(t, c, testSvc, fmt.Sprintf("1.%d", i), false)
	}
	if _, err := cli.Compact(ctxT(t), last.GetState().GetPinRevision()); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	check := func(c rollpinv1.PinServiceClient, have, next string) {
		t.Helper()
		w := watch(t, c, from)
		ups := w.waitFor(t, "pin "+have, sawPin(testSvc, "acme.volume.v1="+have))
		if !ups[0].GetSnapshot() || ups[0].GetRevision() < last.GetState().GetPinRevision() {
			t.Fatalf("watch from compacted revision %d: first update %v, want a snapshot at revision >= %d", from, ups[0], last.GetState().GetPinRevision())
		}
		mustSetPin(t, c, testSvc, next, false)
		w.waitFor(t, "pin "+next+" after the snapshot", sawPin(testSvc, "acme.volume.v1="+next))
	}
	check(c, "1.8", "1.9")
	// A pind started after the compaction has no history before it at all.
	check(startServer(t, cli).cli, "1.9", "1.10")
}

func TestTwoServersServeTheSameState(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	a := startServer(t, cli, WithName("a"))
	b := startServer(t, cli, WithName("b"))
	wb := watch(t, b.cli, 0)
	mustSetPin(t, a.cli, testSvc, "1.3", true)
	if _, err := register(t, b.cli, "i1", "acme.volume.v1=1.4", testSvc); err != nil {
		t.Fatalf("Register on b: %v", err)
	}
	for _, s := range []*testServer{a, b} {
		waitState(t, s.srv, "pin and instance", func(st *State) bool {
			v := st.Service(testSvc)
			return v != nil && v.Pin != nil && len(v.Instances) == 1
		})
	}
	ga, _ := a.cli.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{})
	gb, _ := b.cli.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{})
	if ga.String() != gb.String() {
		t.Fatalf("GetPins differ:\na: %v\nb: %v", ga, gb)
	}
	// A watcher moves from b to a and resumes at b's revision.
	from := lastRevision(wb.waitFor(t, "the instance", func(ups []*rollpinv1.PinUpdate) bool {
		for _, u := range ups {
			for _, s := range u.GetServices() {
				if len(s.GetInstances()) == 1 {
					return true
				}
			}
		}
		return false
	}))
	wb.stop()
	mustSetPin(t, b.cli, testSvc, "1.2", false)
	wa := watch(t, a.cli, from)
	ups := wa.waitFor(t, "pin 1.2 on a", sawPin(testSvc, "acme.volume.v1=1.2"))
	if ups[0].GetSnapshot() {
		t.Errorf("resume on another pind sent a snapshot")
	}
}
