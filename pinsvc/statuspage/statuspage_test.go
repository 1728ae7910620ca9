package statuspage_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/internal/pindtest"
	"github.com/rollpin/rollpin/pinsvc"
	"github.com/rollpin/rollpin/pinsvc/statuspage"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

var screenshot = flag.Bool("screenshot", false, "write the page's screenshot to docs/statuspage.png")

const volSvc = "acme.volume.v1.VolumeService"

// page is a real pind (embedded etcd, gRPC on loopback) with its status
// page served over HTTP on loopback.
type page struct {
	url  string
	cli  rollpinv1.PinServiceClient
	etcd *clientv3.Client
}

func startPage(t *testing.T) *page {
	t.Helper()
	pind := pindtest.Start(t)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: statuspage.New(pind.Server), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(hl)
	t.Cleanup(func() {
		pind.Stop() // ends the event streams
		hs.Close()
	})
	return &page{url: "http://" + hl.Addr().String(), cli: pind.Client, etcd: pind.Etcd}
}

// register keeps an instance registered until the test ends.
func (p *page) register(t *testing.T, id, manifest string) {
	t.Helper()
	pindtest.Register(t, context.Background(), p.cli, &rollpinv1.RegisterRequest{Instance: &rollpinv1.Instance{Id: id, Manifest: manifest}, Services: []string{volSvc}})
}

// fleet starts a page over a fleet mid-upgrade: vol-a on 1.3, vol-b on 1.4,
// the pin at 1.3 and held.
func fleet(t *testing.T) *page {
	t.Helper()
	p := startPage(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3")
	p.register(t, "vol-b", "acme.volume.v1=1.4")
	ctx := context.Background()
	if _, err := p.cli.SetPin(ctx, &rollpinv1.SetPinRequest{Service: volSvc, Manifest: "1.3", Reason: "start of the 1.4 upgrade"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.cli.Hold(ctx, &rollpinv1.HoldRequest{Service: volSvc, Reason: "canary 1.4 until Monday"}); err != nil {
		t.Fatal(err)
	}
	return p
}

// stateOf decodes the JSON the page is fed.
func stateOf(t *testing.T, b []byte) (*rollpinv1.GetPinsResponse, *rollpinv1.GetHistoryResponse) {
	t.Helper()
	var raw struct {
		Pins, History json.RawMessage
		Now           string
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("state is not JSON: %v\n%s", err, b)
	}
	pins, hist := &rollpinv1.GetPinsResponse{}, &rollpinv1.GetHistoryResponse{}
	if err := protojson.Unmarshal(raw.Pins, pins); err != nil {
		t.Fatalf("pins: %v", err)
	}
	if err := protojson.Unmarshal(raw.History, hist); err != nil {
		t.Fatalf("history: %v", err)
	}
	if _, err := time.Parse(time.RFC3339Nano, raw.Now); err != nil {
		t.Errorf("now = %q: %v", raw.Now, err)
	}
	return pins, hist
}

func TestStateAndEvents(t *testing.T) {
	p := fleet(t)
	resp, err := http.Get(p.url + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pins, _ := stateOf(t, b)
	if len(pins.GetServices()) != 1 || pins.GetServices()[0].GetPin().GetHold().GetReason() != "canary 1.4 until Monday" {
		t.Errorf("/api/state pins = %v, want the held service", pins)
	}

	for _, path := range []string{"/", "/static/app.js", "/static/style.css"} {
		resp, err := http.Get(p.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: %s, CSP %q; want 200 with a CSP", path, resp.Status, resp.Header.Get("Content-Security-Policy"))
		}
	}
	if resp, err := http.Post(p.url+"/api/state", "text/plain", nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /api/state: %s, want 405 (the page is read-only)", resp.Status)
		}
	}

	// The event stream: a state now, another after a change.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/events", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("/events Content-Type = %q", ct)
	}
	events := make(chan []byte, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- []byte(d)
			}
		}
	}()
	next := func() *rollpinv1.GetPinsResponse {
		select {
		case b, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			pins, _ := stateOf(t, b)
			return pins
		case <-time.After(20 * time.Second):
			t.Fatal("no event")
		}
		return nil
	}
	if first := next(); first.GetServices()[0].GetPin().GetManifest() != "acme.volume.v1=1.3" {
		t.Errorf("first event = %v, want the pin at 1.3", first)
	}
	if _, err := p.cli.SetPin(context.Background(), &rollpinv1.SetPinRequest{Service: volSvc, Manifest: "1.4", Force: true}); err != nil {
		t.Fatal(err)
	}
	for {
		if st := next(); st.GetServices()[0].GetPin().GetManifest() == "acme.volume.v1=1.4" {
			break
		}
	}
}

// browser starts headless Debian Chromium, driven over the DevTools
// protocol.
func browser(t *testing.T) context.Context {
	t.Helper()
	const bin = "/usr/bin/chromium"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("this test needs Chromium at %s (apt-get install chromium chromium-driver; .ci/run installs it): %v", bin, err)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true),
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 860),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// field is the CSS selector of a field of the volume service's card.
func field(name string) string {
	return `article[data-service="` + volSvc + `"] [data-field="` + name + `"]`
}

// waitText polls the DOM until the text of sel contains want, for at most
// within; it returns the last text seen and whether it matched.
func waitText(ctx context.Context, sel, want string, within time.Duration) (string, bool) {
	deadline := time.Now().Add(within)
	var got string
	for {
		if s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+jsString(sel)+`) || {}).textContent || ""`)); err == nil {
			got = s
			if strings.Contains(s, want) {
				return got, true
			}
		}
		if time.Now().After(deadline) {
			return got, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestPageInChromium(t *testing.T) {
	p := fleet(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(p.url), chromedp.WaitVisible(field("pin"))); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	for _, c := range []struct{ field, want string }{
		{"pin", "1.3"}, {"floor", "1.3"}, {"mode", "auto"},
		{"hold", "canary 1.4 until Monday (anonymous@127.0.0.1)"},
		{"raise", "held"}, {"progress", "1/2 at 1.4"},
	} {
		if got, ok := waitText(ctx, field(c.field), c.want, 10*time.Second); !ok {
			t.Errorf("the page shows %s %q, want %q", c.field, got, c.want)
		}
	}
	if bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('article[data-service] .bar span').length`)); err != nil || bars != 2 {
		t.Errorf("progress bar has %d segments (%v), want one per version (2)", bars, err)
	}
	if got, ok := waitText(ctx, "#history", "canary 1.4 until Monday", 10*time.Second); !ok {
		t.Errorf("the timeline shows %q, want the hold", got)
	}
	if got, ok := waitText(ctx, "#conn", "live", 10*time.Second); !ok {
		t.Errorf("connection badge %q, want live", got)
	}

	// A change made through the API appears within a second, without a
	// reload: a marker set on the page survives.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.rollpinMarker = 42`)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.cli.Release(context.Background(), &rollpinv1.ReleaseRequest{Service: volSvc}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.cli.SetPin(context.Background(), &rollpinv1.SetPinRequest{Service: volSvc, Manifest: "1.4", Force: true, Reason: "1.4 verified"}); err != nil {
		t.Fatal(err)
	}
	if got, ok := waitText(ctx, field("pin"), "1.4", time.Second); !ok {
		t.Errorf("a second after SetPin the page shows pin %q, want 1.4", got)
	}
	if marker, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.rollpinMarker || 0`)); err != nil || marker != 42 {
		t.Errorf("page marker = %d (%v): the page reloaded", marker, err)
	}
	if got, ok := waitText(ctx, "#history", "pin 1.3 → 1.4", 10*time.Second); !ok {
		t.Errorf("the timeline shows %q, want the raise", got)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Errorf("screenshot is %d bytes, not a PNG", len(png))
	}
	if *screenshot {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "statuspage.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestContractMarksOnThePage: a contract mark (as a contract migration's
// run leaves it) appears in the page's state and, live, on the open page.
func TestContractMarksOnThePage(t *testing.T) {
	p := fleet(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(p.url), chromedp.WaitVisible(field("pin"))); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	if got, ok := waitText(ctx, "#contracts-empty", "No contract migration", 10*time.Second); !ok {
		t.Fatalf("before any mark the page says %q, want that none ran", got)
	}
	mark, err := proto.Marshal(&rollpinv1.ContractMark{
		Track: "acme.volume.v1", Version: "1.4", Migration: "00003_drop_size_gb.sql", MigrationVersion: 3,
		By: "ops@example", State: rollpinv1.ContractState_CONTRACT_STATE_APPLIED, After: "acme.volume.v1=1.4",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.etcd.Put(context.Background(), pinsvc.DefaultPrefix+"contracts/acme.volume.v1", string(mark)); err != nil {
		t.Fatal(err)
	}
	// The page learns of the mark with the next state it is sent; a pin
	// change sends one.
	if _, err := p.cli.Release(context.Background(), &rollpinv1.ReleaseRequest{Service: volSvc}); err != nil {
		t.Fatal(err)
	}
	if got, ok := waitText(ctx, `#contracts li[data-track="acme.volume.v1"]`, "acme.volume.v1 1.4 applied 00003_drop_size_gb.sql by ops@example", 10*time.Second); !ok {
		t.Errorf("the page shows the mark as %q", got)
	}
	resp, err := http.Get(p.url + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var raw struct{ Contracts json.RawMessage }
	marks := &rollpinv1.ListContractsResponse{}
	if err := json.Unmarshal(b, &raw); err != nil || protojson.Unmarshal(raw.Contracts, marks) != nil || len(marks.GetMarks()) != 1 || marks.GetMarks()[0].GetMigration() != "00003_drop_size_gb.sql" {
		t.Errorf("/api/state contracts = %s, want the mark", raw.Contracts)
	}
}
