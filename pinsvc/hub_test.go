package pinsvc

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestMergeUpdates(t *testing.T) {
	t.Parallel()
	st := func(svc, pin string) *rollpinv1.ServiceState {
		return &rollpinv1.ServiceState{Service: svc, Pin: &rollpinv1.Pin{Manifest: pin}}
	}
	m := mergeUpdates([]*outMsg{
		testMsg(&rollpinv1.PinUpdate{Revision: 5, Services: []*rollpinv1.ServiceState{st("b", "b=1.0"), st("a", "a=1.0")}}),
		testMsg(&rollpinv1.PinUpdate{Revision: 6, Removed: []string{"b"}, Services: []*rollpinv1.ServiceState{st("c", "c=1.0")}}),
		testMsg(&rollpinv1.PinUpdate{Revision: 9, Services: []*rollpinv1.ServiceState{st("a", "a=1.1")}, Removed: []string{"c"}}),
	}).update()
	if m.GetRevision() != 9 || m.GetSnapshot() {
		t.Errorf("merged revision %d snapshot %v, want 9 false", m.GetRevision(), m.GetSnapshot())
	}
	if got := pinsSeen([]*rollpinv1.PinUpdate{m}); len(got) != 1 || got["a"] != "a=1.1" {
		t.Errorf("merged services = %v, want only a=1.1", got)
	}
	if fmt.Sprint(m.GetRemoved()) != "[b c]" {
		t.Errorf("merged removed = %v, want [b c]", m.GetRemoved())
	}
}

func TestBatchCoalescesChurnButKeepsEveryPin(t *testing.T) {
	t.Parallel()
	mk := func(rev int64, capMove bool) *outMsg {
		m := testMsg(&rollpinv1.PinUpdate{Revision: rev, Services: []*rollpinv1.ServiceState{{Service: fmt.Sprint("s", rev)}}})
		m.capMove = capMove
		return m
	}
	revs := func(ms []*outMsg) string {
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%d:%d", m.rev, len(m.views)))
		}
		return fmt.Sprint(out)
	}
	h := &hub{}
	for _, tc := range []struct {
		in   []*outMsg
		want string // revision:services of each message sent
	}{
		{[]*outMsg{mk(1, false)}, "[1:1]"},
		{[]*outMsg{mk(1, true), mk(2, true), mk(3, true)}, "[1:1 2:1 3:1]"},
		{[]*outMsg{mk(1, false), mk(2, false), mk(3, true), mk(4, false), mk(5, false)}, "[3:3 5:2]"},
		{[]*outMsg{mk(1, false), mk(2, true)}, "[2:2]"},
	} {
		if got := revs(h.batch(tc.in)); got != tc.want {
			t.Errorf("batch(%s) = %s, want %s", revs(tc.in), got, tc.want)
		}
	}
	var many []*outMsg
	for r := int64(1); r <= mergeBacklog+1; r++ {
		many = append(many, mk(r, true))
	}
	if got := h.batch(many); len(got) != 1 || got[0].rev != mergeBacklog+1 {
		t.Errorf("batch of %d pin changes = %s, want one merged message", len(many), revs(got))
	}
	churn := []*outMsg{mk(100, false), mk(101, false), mk(102, false)}
	if a, b := h.batch(churn), h.batch(churn); len(a) != 1 || a[0] != b[0] {
		t.Errorf("two subscribers merging the same range got different messages")
	}
}

func TestHubHistoryIsBounded(t *testing.T) {
	t.Parallel()
	h := &hub{histSize: 4, maxBytes: 1 << 20}
	h.reset(&State{Revision: 10})
	for r := int64(11); r <= 30; r++ {
		h.publish(&State{Revision: r}, testMsg(&rollpinv1.PinUpdate{Revision: r}, true))
	}
	if len(h.hist) > 2*h.histSize {
		t.Fatalf("history holds %d updates, want at most %d", len(h.hist), 2*h.histSize)
	}
	if ups, snap := h.next(29); snap != nil || len(ups) != 1 || ups[0].rev != 30 {
		t.Errorf("next(29) = %d updates, snapshot %v; want the update at 30", len(ups), snap != nil)
	}
	if ups, snap := h.next(30); snap != nil || len(ups) != 0 {
		t.Errorf("next(30) = %d updates, snapshot %v; want nothing", len(ups), snap != nil)
	}
	if _, snap := h.next(12); snap == nil || snap.Revision != 30 {
		t.Errorf("next(12) behind the history: want a snapshot at 30, got %v", snap)
	}
	// A byte budget trims too.
	hb := &hub{histSize: 1000, maxBytes: 64}
	hb.reset(&State{Revision: 0})
	for r := int64(1); r <= 50; r++ {
		hb.publish(&State{Revision: r}, testMsg(&rollpinv1.PinUpdate{Revision: r, Removed: []string{"some.service.Name"}}, true))
	}
	if hb.histBytes > 2*hb.maxBytes || len(hb.hist) == 0 {
		t.Errorf("history of %d bytes in %d updates, want at most %d bytes", hb.histBytes, len(hb.hist), 2*hb.maxBytes)
	}
}

// A subscriber that cannot keep up receives the changes it missed merged
// into one update, and nobody waits for it.
func TestSlowSubscriberGetsMergedUpdate(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	mustSetPin(t, ts.cli, testSvc, "1.0", true)
	fast := watch(t, ts.cli, 0)

	got := make(chan *rollpinv1.PinUpdate)
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ts.srv.serveUpdates(ctx, 0, func(m *outMsg) error {
			select {
			case got <- m.update():
			case <-ctx.Done():
				return ctx.Err()
			}
			<-release // stuck until released
			return nil
		})
	}()
	if u := <-got; !u.GetSnapshot() {
		t.Fatalf("first message %v, want a snapshot", u)
	}
	const n = 3 * mergeBacklog
	for i := 1; i <= n; i++ {
		mustSetPin(t, ts.cli, testSvc, fmt.Sprintf("1.%d", i), false)
	}
	final := fmt.Sprintf("acme.volume.v1=1.%d", n)
	fast.waitFor(t, "the last pin on the fast watcher", sawPin(testSvc, final))
	close(release)
	u := <-got
	if u.GetSnapshot() || len(u.GetServices()) != 1 || u.GetServices()[0].GetPin().GetManifest() != final {
		t.Fatalf("after %d missed changes the slow subscriber got %v, want one merged update with pin %s", n, u, final)
	}
	cancel()
	<-done
}

// Streams that compress get their own encoding; plain streams share one.
func TestCompressedAndPlainWatchersAgree(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	plain := watch(t, ts.cli, 0)
	zipped := &watcher{cond: make(chan struct{}, 1), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	zipped.cancel = cancel
	st, err := ts.cli.WatchPins(ctx, &rollpinv1.WatchPinsRequest{}, grpc.UseCompressor(gzip.Name))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(zipped.done)
		for {
			r, err := st.Recv()
			zipped.mu.Lock()
			if err != nil {
				zipped.err = err
			} else {
				zipped.updates = append(zipped.updates, r.GetUpdate())
			}
			zipped.mu.Unlock()
			select {
			case zipped.cond <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(zipped.stop)
	for i := 1; i <= 3; i++ {
		mustSetPin(t, ts.cli, testSvc, fmt.Sprintf("1.%d", i), true)
	}
	for _, w := range []*watcher{plain, zipped} {
		w.waitFor(t, "pin 1.3", sawPin(testSvc, "acme.volume.v1=1.3"))
	}
}

// When the Server's own watch revision has been compacted it reloads
// everything and carries on.
func TestWatchLoopReloadsAfterCompaction(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	put := func(svc, m string) int64 {
		r, err := cli.Put(ctxT(t), DefaultPrefix+"pins/"+svc, marshal(&rollpinv1.Pin{Manifest: m}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Header.Revision
	}
	put("acme.a.v1.A", "acme.a.v1=1.0")
	rev := put("acme.b.v1.B", "acme.b.v1=1.0")
	if _, err := cli.Compact(ctxT(t), rev); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(cli, WithServerLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetController(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.watchLoop(ctx, 1) }() // revision 2 is long compacted
	defer func() { cancel(); <-done }()
	waitState(t, srv, "both pins after the reload", func(st *State) bool {
		return st.Service("acme.a.v1.A") != nil && st.Service("acme.b.v1.B") != nil
	})
	put("acme.c.v1.C", "acme.c.v1=1.0")
	waitState(t, srv, "a pin written after the reload", func(st *State) bool { return st.Service("acme.c.v1.C") != nil })
}

// One update larger than twice the byte budget, right after a reset (the
// history holds only it), is kept as the whole history: publishing it must
// not panic, and a subscriber at the reset still receives it.
func TestHubKeepsAnOversizedUpdate(t *testing.T) {
	t.Parallel()
	h := &hub{histSize: 16, maxBytes: 64}
	h.reset(&State{Revision: 10})
	big := &rollpinv1.PinUpdate{Revision: 11, Removed: []string{strings.Repeat("x", 1000)}}
	h.publish(&State{Revision: 11}, testMsg(big, true))
	ups, snap := h.next(10)
	if snap != nil || len(ups) != 1 || ups[0].rev != 11 {
		t.Fatalf("next(10) after an oversized update = %d updates, snapshot %v; want the update at 11", len(ups), snap != nil)
	}
	// The next update trims the oversized one.
	h.publish(&State{Revision: 12}, testMsg(&rollpinv1.PinUpdate{Revision: 12}, true))
	if ups, snap := h.next(11); snap != nil || len(ups) != 1 || ups[0].rev != 12 {
		t.Fatalf("next(11) = %d updates, snapshot %v; want the update at 12", len(ups), snap != nil)
	}
	if _, snap := h.next(10); snap == nil {
		t.Fatalf("next(10) behind the trimmed history: want a snapshot")
	}
}

// testMsg is the outMsg of u (its services given as their protos), for the
// hub's own tests; capMove is optional.
func testMsg(u *rollpinv1.PinUpdate, capMove ...bool) *outMsg {
	m := &outMsg{rev: u.GetRevision(), snapshot: u.GetSnapshot(), removed: u.GetRemoved(), capMove: len(capMove) > 0 && capMove[0]}
	for _, ss := range u.GetServices() {
		m.views = append(m.views, &ServiceView{Name: ss.GetService(), Pin: ss.GetPin(), PinRevision: ss.GetPinRevision(), proto: ss, size: proto.Size(ss)})
	}
	return m.sized()
}
