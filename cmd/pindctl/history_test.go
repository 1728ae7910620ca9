package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestHistory(t *testing.T) {
	p := startPindWith(t, etcdtest.Start(t).Client(t), []pinsvc.Option{pinsvc.WithAdminToken(testToken), pinsvc.WithSettle(300 * time.Millisecond)}, nil, nil)
	p.register(t, "vol-a", "acme.volume.v1=1.4", volSvc)
	p.register(t, "bill-1", "acme.billing.v1=2.0", bill1Svc)
	p.waitFor(t, "both pins created by the controller", func(r *rollpinv1.GetPinsResponse) bool {
		return len(r.GetServices()) == 2 && r.GetServices()[0].GetPin() != nil && r.GetServices()[1].GetPin() != nil
	})
	expect(t, p.admin(t, "pin", "lower", "VolumeService", "1.3", "--reason", "roll back 1.4"), exitOK, "held")
	expect(t, p.admin(t, "mode", "VolumeService", "manual"), exitOK, "auto -> manual")
	expect(t, p.admin(t, "release", "VolumeService"), exitOK, "released")

	// The recorder writes asynchronously: wait for the last change.
	var resp rollpinv1.GetHistoryResponse
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := p.ctl(t, nil, "-o", "json", "history", "VolumeService")
		expect(t, r, exitOK, "")
		resp.Reset()
		decodeJSON(t, r.out, &resp)
		if es := resp.GetEntries(); len(es) > 0 && es[len(es)-1].GetKind() == rollpinv1.HistoryKind_HISTORY_KIND_RELEASE {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history never showed the release:\n%s", r.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	type row struct {
		kind         rollpinv1.HistoryKind
		by, from, to string
	}
	want := []row{
		{rollpinv1.HistoryKind_HISTORY_KIND_PIN, "controller", "", "acme.volume.v1=1.4"},
		{rollpinv1.HistoryKind_HISTORY_KIND_PIN, "admin-token", "acme.volume.v1=1.4", "acme.volume.v1=1.3"},
		{rollpinv1.HistoryKind_HISTORY_KIND_HOLD, "admin-token", "", "roll back 1.4"},
		{rollpinv1.HistoryKind_HISTORY_KIND_MODE, "admin-token", "auto", "manual"},
		{rollpinv1.HistoryKind_HISTORY_KIND_RELEASE, "admin-token", "roll back 1.4", ""},
	}
	es := resp.GetEntries()
	if len(es) != len(want) {
		t.Fatalf("history of %s = %v, want %d entries", volSvc, es, len(want))
	}
	for i, w := range want {
		e := es[i]
		if got := (row{e.GetKind(), e.GetBy(), e.GetFrom(), e.GetTo()}); got != w || e.GetService() != volSvc || e.GetRevision() == 0 || e.GetAt() == nil {
			t.Errorf("entry %d = %v, want %+v of %s with a revision and a time", i, e, w, volSvc)
		}
	}

	r := p.ctl(t, nil, "history", "VolumeService", "--since", "1h")
	expect(t, r, exitOK, "TIME")
	words := strings.Join(strings.Fields(r.out), " ")
	for _, w := range []string{"pin 1.4 -> 1.3 admin-token roll back 1.4", "hold admin-token roll back 1.4", "pin none -> 1.4 controller", "mode auto -> manual", "release"} {
		if !strings.Contains(words, w) {
			t.Errorf("history table does not contain %q:\n%s", w, r.out)
		}
	}
	r = p.ctl(t, nil, "history")
	expect(t, r, exitOK, bill1Svc)
	r = p.ctl(t, nil, "history", "--limit", "1")
	if n := strings.Count(strings.TrimSpace(r.out), "\n"); n != 1 || !strings.Contains(r.out, "release") {
		t.Errorf("history --limit 1 printed %d rows, want the newest one:\n%s", n, r.out)
	}
	r = p.ctl(t, nil, "-o", "yaml", "history", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	expect(t, r, exitOK, "")
	var none rollpinv1.GetHistoryResponse
	decodeYAML(t, r.out, &none)
	if len(none.GetEntries()) != 0 {
		t.Errorf("history since an hour from now = %v, want none", &none)
	}
	expect(t, p.ctl(t, nil, "history", "--since", "yesterday"), exitUsage, `--since "yesterday": give a duration`)
}

func TestHistoryNamesAnonymousWritersByHost(t *testing.T) {
	p := startPindWith(t, etcdtest.Start(t).Client(t), nil, nil, nil)
	p.register(t, "vol-a", "acme.volume.v1=1.4", volSvc)
	expect(t, p.ctl(t, nil, "pin", "set", "VolumeService", "1.4"), exitOK, "none -> 1.4")
	expect(t, p.ctl(t, nil, "hold", "VolumeService", "--reason", "x"), exitOK, "held")
	deadline := time.Now().Add(20 * time.Second)
	for {
		var resp rollpinv1.GetHistoryResponse
		r := p.ctl(t, nil, "-o", "json", "history")
		decodeJSON(t, r.out, &resp)
		if es := resp.GetEntries(); len(es) == 2 {
			// Two pindctl runs, two client ports: one identity.
			if es[0].GetBy() != "anonymous@127.0.0.1" || es[1].GetBy() != es[0].GetBy() {
				t.Errorf("writers = %q, %q; want anonymous@127.0.0.1 for both", es[0].GetBy(), es[1].GetBy())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("history never had 2 entries:\n%s", r.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
