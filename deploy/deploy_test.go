package deploy

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/internal/pindtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

const volSvc = "acme.volume.v1.VolumeService"

// metricPind is a real pind (embedded etcd, gRPC on loopback with
// go-grpc-middleware's server metrics) whose /metrics is served over HTTP,
// as cmd/pind wires it.
type metricPind struct {
	cli     rollpinv1.PinServiceClient
	metrics string // URL of /metrics
}

func startMetricPind(t *testing.T) *metricPind {
	t.Helper()
	reg := prometheus.NewRegistry()
	gm := grpcprom.NewServerMetrics()
	reg.MustRegister(gm)
	pind := pindtest.Start(t,
		pindtest.WithServerOptions(pinsvc.WithRegisterer(reg)),
		pindtest.WithGRPCServerOptions(grpc.ChainUnaryInterceptor(gm.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(gm.StreamServerInterceptor())),
		pindtest.WithBeforeServe(func(gs *grpc.Server) { gm.InitializeMetrics(gs) }))
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(hl)
	t.Cleanup(func() { hs.Close() })
	return &metricPind{cli: pind.Client, metrics: "http://" + hl.Addr().String() + "/metrics"}
}

// scrape reads /metrics as Prometheus would.
func (p *metricPind) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(p.metrics)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// register keeps an instance registered until the test ends.
func (p *metricPind) register(t *testing.T, id, manifest string) {
	t.Helper()
	pindtest.Register(t, context.Background(), p.cli, &rollpinv1.RegisterRequest{Instance: &rollpinv1.Instance{Id: id, Manifest: manifest}, Services: []string{volSvc}})
}

// series returns the value of the series of fam whose labels include want,
// and whether there is one.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		if g := m.GetGauge(); g != nil {
			return g.GetValue(), true
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), true
		}
		return 0, true
	}
	return 0, false
}

func TestPerServiceMetrics(t *testing.T) {
	p := startMetricPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3")
	p.register(t, "vol-b", "acme.volume.v1=1.4")
	p.register(t, "vol-c", "acme.volume.v1=1.4")
	ctx := context.Background()
	if _, err := p.cli.SetPin(ctx, &rollpinv1.SetPinRequest{Service: volSvc, Manifest: "1.3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.cli.Hold(ctx, &rollpinv1.HoldRequest{Service: volSvc, Reason: "canary"}); err != nil {
		t.Fatal(err)
	}
	// A fenced registration, for the alert on fenced registrations.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if st, err := p.cli.Register(fctx, &rollpinv1.RegisterRequest{Instance: &rollpinv1.Instance{Id: "old", Manifest: "acme.volume.v1=1.2"}, Services: []string{volSvc}}); err == nil {
		st.Recv()
	}

	deadline := time.Now().Add(20 * time.Second)
	var fams map[string]*dto.MetricFamily
	for {
		fams = p.scrape(t)
		if v, _ := series(fams, "rollpin_service_raise_blocked_seconds", map[string]string{"service": volSvc}); v > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollpin_service_raise_blocked_seconds of a held, lagging pin never rose above 0")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rollpin_service_pin_info", map[string]string{"service": volSvc, "track": "acme.volume.v1", "version": "1.3"}, 1},
		{"rollpin_service_floor_info", map[string]string{"service": volSvc, "track": "acme.volume.v1", "version": "1.3"}, 1},
		{"rollpin_service_instances", map[string]string{"service": volSvc, "version": "1.3"}, 1},
		{"rollpin_service_instances", map[string]string{"service": volSvc, "version": "1.4"}, 2},
		{"rollpin_service_held", map[string]string{"service": volSvc}, 1},
		{"rollpin_build_info", map[string]string{}, 1},
		{"rollpin_pind_etcd_up", nil, 1},
		{"rollpin_pind_writes_total", map[string]string{"rpc": "Register", "code": "FailedPrecondition"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_method": "Hold", "grpc_code": "OK"}, 1},
	} {
		got, ok := series(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if v, ok := series(fams, "rollpin_service_hold_started_timestamp_seconds", map[string]string{"service": volSvc}); !ok || time.Since(time.Unix(int64(v), 0)) > time.Hour {
		t.Errorf("hold start = %v (present %v), want about now", v, ok)
	}
	if _, ok := series(fams, "rollpin_build_info", nil); ok {
		for _, l := range fams["rollpin_build_info"].GetMetric()[0].GetLabel() {
			if l.GetValue() == "" {
				t.Errorf("rollpin_build_info label %s is empty", l.GetName())
			}
		}
	}

	// Released and not lagging any more: nothing blocks.
	if _, err := p.cli.Release(ctx, &rollpinv1.ReleaseRequest{Service: volSvc}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.cli.SetPin(ctx, &rollpinv1.SetPinRequest{Service: volSvc, Manifest: "1.4", Force: true}); err != nil {
		t.Fatal(err)
	}
	fams = p.scrape(t)
	if v, _ := series(fams, "rollpin_service_raise_blocked_seconds", map[string]string{"service": volSvc}); v != 0 {
		t.Errorf("raise_blocked_seconds at the newest version = %v, want 0", v)
	}
	if v, _ := series(fams, "rollpin_service_held", map[string]string{"service": volSvc}); v != 0 {
		t.Errorf("held after release = %v, want 0", v)
	}
}

// startHeldFleet starts a pind with one service, pinned and held, so that
// every series pind can export is present.
func startHeldFleet(t *testing.T) *metricPind {
	t.Helper()
	p := startMetricPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3")
	if _, err := p.cli.SetPin(context.Background(), &rollpinv1.SetPinRequest{Service: volSvc, Manifest: "1.3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.cli.Hold(context.Background(), &rollpinv1.HoldRequest{Service: volSvc, Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	return p
}

// exportedNames lists what a pind's /metrics holds, with the _bucket, _sum
// and _count series of histograms, plus Prometheus' own "up".
func exportedNames(fams map[string]*dto.MetricFamily) map[string]bool {
	names := map[string]bool{"up": true}
	for n, f := range fams {
		names[n] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		}
	}
	return names
}

// selectors returns the metric names an expression selects.
func selectors(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := parser.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse as PromQL: %v", where, expr, err)
		return nil
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs.Name)
		}
		return nil
	})
	return out
}

func TestAlertingRules(t *testing.T) {
	groups, errs := rulefmt.ParseFile("prometheus/rollpin-rules.yaml", false, model.UTF8Validation)
	for _, err := range errs {
		t.Errorf("rollpin-rules.yaml: %v", err)
	}
	if groups == nil {
		t.Fatal("no rule groups")
	}
	names := exportedNames(startHeldFleet(t).scrape(t))
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("alert %s: want a summary annotation and a severity label", r.Alert)
			}
			for _, n := range selectors(t, "alert "+r.Alert, r.Expr) {
				if !names[n] {
					t.Errorf("alert %s selects %s, which pind does not export", r.Alert, n)
				}
			}
		}
	}
	for _, a := range []string{"RollpinPinHeldTooLong", "RollpinRaiseBlocked", "RollpinFencedRegistrations", "RollpinPindWithoutEtcd"} {
		if !alerts[a] {
			t.Errorf("rollpin-rules.yaml has no alert %s", a)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/rollpin.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("rollpin.json is not JSON: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard %q: want a uid and panels", dash.Title)
	}
	names := exportedNames(startHeldFleet(t).scrape(t))
	used := map[string]bool{}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$service", ".*")
	for _, panel := range dash.Panels {
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q has no query", panel.Title)
		}
		for _, tg := range panel.Targets {
			for _, n := range selectors(t, "panel "+panel.Title, vars.Replace(tg.Expr)) {
				used[n] = true
				if !names[n] {
					t.Errorf("panel %q selects %s, which pind does not export", panel.Title, n)
				}
			}
		}
	}
	for _, n := range []string{"rollpin_service_pin_info", "rollpin_service_floor_info", "rollpin_service_instances", "rollpin_service_held", "rollpin_service_raise_blocked_seconds", "rollpin_build_info", "grpc_server_handled_total"} {
		if !used[n] {
			t.Errorf("the dashboard shows no %s", n)
		}
	}
}
