package pinsvc

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// allHistory reads every page of GetHistory with pages of size n.
func allHistory(t testing.TB, c rollpinv1.PinServiceClient, req *rollpinv1.GetHistoryRequest, n int32) []*rollpinv1.HistoryEntry {
	t.Helper()
	var out []*rollpinv1.HistoryEntry
	req.PageSize = n
	for {
		resp, err := c.GetHistory(ctxT(t), req)
		if err != nil {
			t.Fatalf("GetHistory: %v", err)
		}
		out = append(out, resp.GetEntries()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// waitHistory polls GetHistory until pred holds (the recorder writes
// asynchronously) and returns the entries.
func waitHistory(t testing.TB, c rollpinv1.PinServiceClient, what string, pred func([]*rollpinv1.HistoryEntry) bool) []*rollpinv1.HistoryEntry {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		es := allHistory(t, c, &rollpinv1.GetHistoryRequest{}, 0)
		if pred(es) {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; history is %v", what, es)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reasons lists the reasons of entries.
func reasons(es []*rollpinv1.HistoryEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.GetReason()
	}
	return out
}

func lastReason(want string) func([]*rollpinv1.HistoryEntry) bool {
	return func(es []*rollpinv1.HistoryEntry) bool {
		return len(es) > 0 && es[len(es)-1].GetReason() == want
	}
}

// putPin writes a pin straight into etcd, as another pind would.
func putPin(t testing.TB, s *Server, svc string, p *rollpinv1.Pin) {
	t.Helper()
	if _, err := s.cli.Put(ctxT(t), s.keys.pin(svc), marshal(p)); err != nil {
		t.Fatalf("put pin: %v", err)
	}
}

func TestHistoryRetentionCount(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli, WithAuditRetention(3, 0))
	const svc = "acme.volume.v1.VolumeService"
	mustSetPin(t, ts.cli, svc, "acme.volume.v1=1.0", true)
	for _, r := range []string{"r1", "r2", "r3", "r4"} {
		if _, err := ts.cli.Hold(ctxT(t), &rollpinv1.HoldRequest{Service: svc, Reason: r}); err != nil {
			t.Fatalf("Hold(%s): %v", r, err)
		}
	}
	// The recorder prunes right after each write that exceeds the count.
	es := waitHistory(t, ts.cli, "the fourth hold and the count pruned to 3", func(es []*rollpinv1.HistoryEntry) bool {
		return lastReason("r4")(es) && len(es) <= 3
	})
	if got := reasons(es); len(got) != 3 || got[0] != "r2" || got[1] != "r3" || got[2] != "r4" {
		t.Errorf("history reasons = %v, want [r2 r3 r4]", got)
	}
	for _, e := range es {
		if e.GetKind() != rollpinv1.HistoryKind_HISTORY_KIND_HOLD || e.GetService() != svc || e.GetRevision() == 0 || e.GetAt() == nil {
			t.Errorf("entry %v: want a hold of %s with a revision and a time", e, svc)
		}
	}
}

func TestHistoryRetentionAgeAndCatchUp(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli, WithAuditRetention(0, 24*time.Hour))
	const svc = "acme.volume.v1.VolumeService"
	// A change dated two days ago is older than the retention: pruned after
	// it is written, before the next change is recorded.
	putPin(t, ts.srv, svc, &rollpinv1.Pin{Manifest: "acme.volume.v1=1.0", UpdatedBy: "ops", Reason: "old", UpdatedAt: timestamppb.New(time.Now().Add(-48 * time.Hour))})
	putPin(t, ts.srv, svc, &rollpinv1.Pin{Manifest: "acme.volume.v1=1.1", UpdatedBy: "ops", Reason: "new", UpdatedAt: timestamppb.Now()})
	es := waitHistory(t, ts.cli, "the new pin", lastReason("new"))
	if got := reasons(es); len(got) != 1 {
		t.Errorf("history reasons = %v, want only [new]", got)
	}
	if e := es[len(es)-1]; e.GetFrom() != "acme.volume.v1=1.0" || e.GetTo() != "acme.volume.v1=1.1" || e.GetBy() != "ops" {
		t.Errorf("entry = %v, want 1.0 -> 1.1 by ops", e)
	}

	// Changes made while no pind runs are recorded by the next one.
	ts.srv.Close()
	ts.gs.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/rollpin/pins/"+svc, marshal(&rollpinv1.Pin{Manifest: "acme.volume.v1=1.2", UpdatedBy: "ops", Reason: "while down", UpdatedAt: timestamppb.Now()})); err != nil {
		t.Fatal(err)
	}
	ts2 := startServer(t, cli, WithAuditRetention(0, 24*time.Hour))
	waitHistory(t, ts2.cli, "the change made while no pind ran", lastReason("while down"))
}

func TestGetHistoryPagesAndFilters(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	const vol, bill = "acme.volume.v1.VolumeService", "acme.billing.v1.BillingService"
	mustSetPin(t, ts.cli, vol, "acme.volume.v1=1.0", true)
	mustSetPin(t, ts.cli, bill, "acme.billing.v1=1.0", true)
	// A lowering that holds records two entries at one revision.
	if _, err := ts.cli.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: vol, Manifest: "0.9", Reason: "roll back", HoldOnLower: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.cli.SetMode(ctxT(t), &rollpinv1.SetModeRequest{Service: vol, Mode: rollpinv1.PinMode_PIN_MODE_MANUAL}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.cli.Release(ctxT(t), &rollpinv1.ReleaseRequest{Service: vol}); err != nil {
		t.Fatal(err)
	}
	all := waitHistory(t, ts.cli, "the release", func(es []*rollpinv1.HistoryEntry) bool {
		return len(es) > 0 && es[len(es)-1].GetKind() == rollpinv1.HistoryKind_HISTORY_KIND_RELEASE
	})
	wantKinds := []rollpinv1.HistoryKind{
		rollpinv1.HistoryKind_HISTORY_KIND_PIN, rollpinv1.HistoryKind_HISTORY_KIND_PIN,
		rollpinv1.HistoryKind_HISTORY_KIND_PIN, rollpinv1.HistoryKind_HISTORY_KIND_HOLD,
		rollpinv1.HistoryKind_HISTORY_KIND_MODE, rollpinv1.HistoryKind_HISTORY_KIND_RELEASE,
	}
	if len(all) != len(wantKinds) {
		t.Fatalf("history = %v, want %d entries", all, len(wantKinds))
	}
	for i, e := range all {
		if e.GetKind() != wantKinds[i] {
			t.Errorf("entry %d kind = %v, want %v", i, e.GetKind(), wantKinds[i])
		}
		if i > 0 && e.GetRevision() < all[i-1].GetRevision() {
			t.Errorf("entry %d revision %d is below the previous %d", i, e.GetRevision(), all[i-1].GetRevision())
		}
	}
	if all[2].GetRevision() != all[3].GetRevision() || all[3].GetReason() != "roll back" || all[2].GetFrom() != "acme.volume.v1=1.0" || all[2].GetTo() != "acme.volume.v1=0.9" {
		t.Errorf("lowering entries = %v, %v; want pin 1.0 -> 0.9 and its hold at one revision, reason \"roll back\"", all[2], all[3])
	}
	if m := all[4]; m.GetFrom() != "auto" || m.GetTo() != "manual" {
		t.Errorf("mode entry = %v, want auto -> manual", m)
	}
	// Writers in the open single-machine mode are named by host, not by an
	// ephemeral client port.
	if by := all[0].GetBy(); by != "anonymous" && by != "anonymous@bufconn" {
		t.Errorf("writer = %q, want a stable identity", by)
	}

	for _, n := range []int32{1, 2, 5} {
		paged := allHistory(t, ts.cli, &rollpinv1.GetHistoryRequest{}, n)
		if len(paged) != len(all) {
			t.Errorf("pages of %d: %d entries, want %d", n, len(paged), len(all))
		}
	}
	if got := allHistory(t, ts.cli, &rollpinv1.GetHistoryRequest{Service: bill}, 1); len(got) != 1 || got[0].GetService() != bill {
		t.Errorf("history of %s = %v, want its one entry", bill, got)
	}
	if got := allHistory(t, ts.cli, &rollpinv1.GetHistoryRequest{Since: timestamppb.New(time.Now().Add(time.Hour))}, 0); len(got) != 0 {
		t.Errorf("history since an hour from now = %v, want none", got)
	}

	for _, req := range []*rollpinv1.GetHistoryRequest{
		{PageToken: "nonsense"},
		{PageSize: -1},
		{Service: "bad name"},
		{Since: &timestamppb.Timestamp{Seconds: -1 << 62}},
	} {
		_, err := ts.cli.GetHistory(ctxT(t), req)
		wantCode(t, "GetHistory("+req.String()+")", err, codes.InvalidArgument)
		if req.GetService() != "" {
			continue // the service name check is shared with every RPC
		}
		if info, ok := refusal.Of(err); !ok || info.GetReason() != refusal.InvalidRequest || info.GetMetadata()["field"] == "" {
			t.Errorf("GetHistory(%v) error %v: want ErrorInfo %s naming the field", req, err, refusal.InvalidRequest)
		}
	}
}

func FuzzParsePageToken(f *testing.F) {
	f.Add("00000000000000000042-000")
	f.Add("nonsense")
	f.Add("-")
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := parsePageToken(tok)
		if err != nil {
			return
		}
		if got != tok || len(tok) != 24 {
			t.Fatalf("parsePageToken(%q) = %q, want the token itself, 24 bytes", tok, got)
		}
	})
}

// TestHistoryRecordsChangesBeforeTheFirstRecorder: on an etcd where no pind
// has recorded history yet, changes already made (by a pind that serves
// before its recorder first runs, or before any pind ran) are recorded too,
// not skipped because the recorder started after them.
func TestHistoryRecordsChangesBeforeTheFirstRecorder(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	const svc = "acme.volume.v1.VolumeService"
	k := keys{prefix: DefaultPrefix}
	for _, p := range []*rollpinv1.Pin{
		{Manifest: "acme.volume.v1=1.0", UpdatedBy: "ops", Reason: "first", UpdatedAt: timestamppb.Now()},
		{Manifest: "acme.volume.v1=1.1", UpdatedBy: "ops", Reason: "second", UpdatedAt: timestamppb.Now()},
	} {
		if _, err := cli.Put(ctxT(t), k.pin(svc), marshal(p)); err != nil {
			t.Fatal(err)
		}
	}
	ts := startServer(t, cli)
	es := waitHistory(t, ts.cli, "the change made before the first pind", lastReason("second"))
	if got := reasons(es); len(got) != 2 || got[0] != "first" {
		t.Errorf("history reasons = %v, want [first second]", got)
	}
}
