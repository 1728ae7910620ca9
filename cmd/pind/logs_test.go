package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// logRecords parses pind's JSON log lines.
func logRecords(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		out = append(out, rec)
	}
	return out
}

// waitLog waits until pind logged a record with message msg and returns it.
func waitLog(t *testing.T, d *daemon, msg string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, rec := range logRecords(t, d.logs.String()) {
			if rec["msg"] == msg {
				return rec
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pind never logged %q; logs:\n%s", msg, d.logs)
	return nil
}

// An instance's join and leave are logged at INFO, and durations in the
// logs are strings ("1m0s"), not nanosecond counts.
func TestLogsJoinsLeavesAndDurations(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--lease-ttl", "2s"}, nil)
	rctx, cancel := context.WithCancel(ctx(t))
	stream, err := d.pins.Register(rctx, &rollpinv1.RegisterRequest{
		Instance: &rollpinv1.Instance{Id: "vol-a", Manifest: "acme.volume.v1=1.3", Build: "b", Address: "vol-a:9000"},
		Services: []string{svc},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("Register: %v", err)
	}
	joined := waitLog(t, d, "instance joined")
	cancel()
	left := waitLog(t, d, "instance left")

	for _, rec := range []map[string]any{joined, left} {
		if rec["level"] != "INFO" || rec["instance"] != "vol-a" || rec["manifest"] != "acme.volume.v1=1.3" {
			t.Errorf("log record %v, want level INFO for instance vol-a at acme.volume.v1=1.3", rec)
		}
	}
	if s, ok := left["registered_for"].(string); !ok || !strings.HasSuffix(s, "s") {
		t.Errorf("instance left: registered_for = %#v, want a duration string", left["registered_for"])
	}
	for msg, key := range map[string]string{
		"pinsvc: controller leads: raising AUTO pins": "settle",
		"registration lease granted":                  "ttl",
	} {
		rec := waitLog(t, d, msg)
		if s, ok := rec[key].(string); !ok || s == "" {
			t.Errorf("%s: %s = %#v, want a duration string such as \"1m0s\"", msg, key, rec[key])
		}
	}
	if rec := waitLog(t, d, "pinsvc: controller leads: raising AUTO pins"); rec["settle"] != "1m0s" {
		t.Errorf("controller leads: settle = %#v, want \"1m0s\"", rec["settle"])
	}
}
