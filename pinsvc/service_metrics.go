package pinsvc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/buildinfo"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// serviceCollector exports the state of every service as Prometheus
// metrics, computed from the Server's snapshot at scrape time:
//
//	rollpin_service_pin_info{service,track,version} 1
//	rollpin_service_floor_info{service,track,version} 1
//	rollpin_service_instances{service,version}
//	rollpin_service_held{service}
//	rollpin_service_hold_started_timestamp_seconds{service}
//	rollpin_service_raise_blocked_seconds{service}
//	rollpin_build_info{version,goversion} 1
//	rollpin_pind_etcd_up
//
// A raise is blocked while the pin lags the newest version a live instance
// runs and the controller cannot raise it (old instances remain, a hold, or
// the manual mode); the settle window does not count.
type serviceCollector struct {
	s                                                     *Server
	pinInfo, floorInfo, instances, held, holdStart, stuck *prometheus.Desc
	build, etcdUp                                         *prometheus.Desc
	info                                                  buildinfo.Info

	mu           sync.Mutex
	blockedSince map[string]time.Time
	etcdOK       atomic.Bool
}

func newServiceCollector(s *Server) *serviceCollector {
	svc := []string{"service"}
	return &serviceCollector{
		s:         s,
		pinInfo:   prometheus.NewDesc("rollpin_service_pin_info", "The pin of a service: one series per track, value 1.", []string{"service", "track", "version"}, nil),
		floorInfo: prometheus.NewDesc("rollpin_service_floor_info", "The floor of a service (oldest version of its live instances): one series per track, value 1.", []string{"service", "track", "version"}, nil),
		instances: prometheus.NewDesc("rollpin_service_instances", "Live instances of a service by version (the service's own track, else the manifest).", []string{"service", "version"}, nil),
		held:      prometheus.NewDesc("rollpin_service_held", "1 while automatic raises of the service's pin are held.", svc, nil),
		holdStart: prometheus.NewDesc("rollpin_service_hold_started_timestamp_seconds", "When the current hold was set (Unix time); absent without a hold.", svc, nil),
		stuck: prometheus.NewDesc("rollpin_service_raise_blocked_seconds",
			"How long the pin has lagged the newest live version without the controller being able to raise it (old instances, hold, manual mode); 0 otherwise.", svc, nil),
		build:        prometheus.NewDesc("rollpin_build_info", "Build of this pind, value 1.", []string{"version", "goversion"}, nil),
		etcdUp:       prometheus.NewDesc("rollpin_pind_etcd_up", "1 while this pind's last etcd probe succeeded.", nil, nil),
		info:         buildinfo.Read(),
		blockedSince: map[string]time.Time{},
	}
}

// Describe implements prometheus.Collector.
func (c *serviceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pinInfo, c.floorInfo, c.instances, c.held, c.holdStart, c.stuck, c.build, c.etcdUp} {
		ch <- d
	}
}

// versionLabel renders a manifest for a label: the version of the
// service's own track when it has it, else the canonical text.
func versionLabel(service string, m backport.Manifest) string {
	if v, ok := m.Get(servicePackage(service)); ok {
		return v.String()
	}
	return m.String()
}

// servicePackage returns the proto package of a full service name.
func servicePackage(service string) string {
	for i := len(service) - 1; i >= 0; i-- {
		if service[i] == '.' {
			return service[:i]
		}
	}
	return ""
}

// lags reports whether the pin caps a track below the newest version of
// the live instances.
func lags(v *ServiceView) bool {
	if v.Pin == nil || len(v.Manifests) == 0 {
		return false
	}
	for _, e := range Max(v.distinct()).Entries() {
		if p, ok := v.PinManifest.Get(e.Track); ok && p.Less(e.Version) {
			return true
		}
	}
	return false
}

// track updates when each service's raise became blocked.
func (c *serviceCollector) track(st *State, now time.Time) {
	raise := c.s.raiseFunc()
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for name, v := range st.Services {
		blocked := false
		if lags(v) {
			switch raise(v, now).GetState() {
			case rollpinv1.RaiseState_RAISE_STATE_BLOCKED, rollpinv1.RaiseState_RAISE_STATE_HELD, rollpinv1.RaiseState_RAISE_STATE_MANUAL:
				blocked = true
			}
		}
		if blocked {
			seen[name] = true
			if _, ok := c.blockedSince[name]; !ok {
				c.blockedSince[name] = now
			}
		}
	}
	for name := range c.blockedSince {
		if !seen[name] {
			delete(c.blockedSince, name)
		}
	}
}

// Collect implements prometheus.Collector.
func (c *serviceCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	st := c.s.Snapshot()
	c.track(st, now)
	c.mu.Lock()
	since := make(map[string]time.Time, len(c.blockedSince))
	for k, v := range c.blockedSince {
		since[k] = v
	}
	c.mu.Unlock()
	for _, name := range st.Names() {
		v := st.Services[name]
		if v.Pin != nil {
			for _, e := range v.PinManifest.Entries() {
				ch <- prometheus.MustNewConstMetric(c.pinInfo, prometheus.GaugeValue, 1, name, e.Track, e.Version.String())
			}
		}
		for _, e := range v.Floor.Entries() {
			ch <- prometheus.MustNewConstMetric(c.floorInfo, prometheus.GaugeValue, 1, name, e.Track, e.Version.String())
		}
		counts := map[string]int{}
		for _, g := range v.manifestGroups() {
			counts[versionLabel(name, g.m)] += g.n
		}
		for ver, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.instances, prometheus.GaugeValue, float64(n), name, ver)
		}
		held := 0.0
		if h := v.Pin.GetHold(); h != nil {
			held = 1
			if h.GetAt() != nil {
				ch <- prometheus.MustNewConstMetric(c.holdStart, prometheus.GaugeValue, float64(h.GetAt().AsTime().UnixMilli())/1000, name)
			}
		}
		ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, held, name)
		blocked := 0.0
		if t, ok := since[name]; ok {
			blocked = now.Sub(t).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.stuck, prometheus.GaugeValue, blocked, name)
	}
	ch <- prometheus.MustNewConstMetric(c.build, prometheus.GaugeValue, 1, c.info.Version, c.info.GoVersion)
	up := 0.0
	if c.etcdOK.Load() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.etcdUp, prometheus.GaugeValue, up)
}

// run keeps blockedSince current between scrapes (from the Server's change
// notifications) and probes etcd every interval, until ctx ends.
func (c *serviceCollector) run(ctx context.Context, interval time.Duration) {
	poke, cancel := c.s.Subscribe()
	defer cancel()
	c.probe(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poke:
			c.track(c.s.Snapshot(), time.Now())
		case <-t.C:
			c.track(c.s.Snapshot(), time.Now())
			c.probe(ctx)
		}
	}
}

// probe reads one key from etcd (a linearizable read, so a pind cut off
// from the etcd quorum reports down).
func (c *serviceCollector) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.s.cli.Get(pctx, c.s.keys.historyCursor("pins"), clientv3.WithCountOnly())
	c.etcdOK.Store(err == nil)
}
