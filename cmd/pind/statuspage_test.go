package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestStatusPageFlag(t *testing.T) {
	t.Parallel()
	off := startDaemon(t, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, nil)
	if off.r.Page != nil {
		t.Errorf("without --http-listen the page listens on %v, want off", off.r.Page)
	}
	off.stop(t)

	d := startDaemon(t, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--http-listen", "127.0.0.1:0",
		"--metrics-listen", "127.0.0.1:0"}, nil)
	if d.r.Page == nil {
		t.Fatal("--http-listen: no page address")
	}
	if _, err := d.pins.SetPin(ctx(t), &rollpinv1.SetPinRequest{Service: svc, Manifest: "1.3", Force: true}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/": "<title>rollpin status</title>", "/api/state": `"service":"` + svc + `"`} {
		resp, err := http.Get("http://" + d.r.Page.String() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %s\n%s\nwant it to contain %s", path, resp.Status, b, want)
		}
	}
	resp, err := http.Get("http://" + d.r.Metrics.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`rollpin_service_pin_info{service="` + svc + `",track="acme.volume.v1",version="1.3"} 1`, "rollpin_build_info{", "rollpin_pind_etcd_up"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
