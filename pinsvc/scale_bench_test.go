package pinsvc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// BenchmarkScaleRegistrations registers many instances (5,000 by default;
// ROLLPIN_SCALE_INSTANCES overrides) through one pind, ten per service and
// then all in one service, each on its own Register stream, and then measures how long one pin change
// takes to reach every one of them. It reports:
//
//   - leases: etcd leases that exist (cli.Leases), and reg-lease-keys: the
//     keys attached to the pind's registration lease (one lease for all);
//   - bytes/stream: heap and stack growth of the process per open stream,
//     both ends of the loopback stream included (runtime.MemStats after GC);
//   - register-s: time for every instance to be registered and streaming;
//   - heap-MiB: the process's live heap once every stream caught up;
//   - rss-MiB, peak-rss-MiB: resident memory once every stream caught up,
//     and its peak (VmRSS and VmHWM): of pind alone with pind=process (the
//     pind binary, with its embedded etcd, in its own process); otherwise of
//     the whole benchmark process, pind, etcd and every client together;
//   - p50-ms, p99-ms, all-ms: time from the SetPin call until a stream
//     received the change, for the median, 99th percentile and last stream
//     (ns/op is all-ms for one change).
//
// Run it alone: go test ./pinsvc -run '^$' -bench ScaleRegistrations -benchtime 5x
func BenchmarkScaleRegistrations(b *testing.B) {
	n := 5000
	if s := os.Getenv("ROLLPIN_SCALE_INSTANCES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 10 {
			b.Fatalf("ROLLPIN_SCALE_INSTANCES=%q: want an integer >= 10", s)
		}
		n = v
	}
	// Ten instances per service, and every instance in one service (whose
	// updates carry every instance).
	for _, perService := range []int{10, n} {
		b.Run(fmt.Sprintf("instances=%d/per-service=%d", n, perService), func(b *testing.B) {
			benchScaleRegistrations(b, n, perService, inProcessPind(b))
		})
	}
	// The same, all in one service, against the pind binary in its own
	// process (with its embedded etcd), to measure pind's resident memory
	// alone.
	b.Run(fmt.Sprintf("instances=%d/per-service=%d/pind=process", n, n), func(b *testing.B) {
		benchScaleRegistrations(b, n, n, pindProcess(b))
	})
}

// scalePind is the pind under measurement.
type scalePind struct {
	addr       string
	admin      rollpinv1.PinServiceClient
	registered func() int       // live instances pind knows
	cli        *clientv3.Client // its etcd, when in this process
	pid        int              // its process, when separate
}

// inProcessPind starts a pind in this process on a fresh embedded etcd.
func inProcessPind(b *testing.B) *scalePind {
	c := etcdtest.Start(b)
	// A long settle keeps the controller from raising the pins the
	// benchmark lowers.
	p := startPind(b, c, "pind-0", "", WithSettle(time.Hour), WithLeaseTTL(DefaultLeaseTTL))
	return &scalePind{addr: p.addr, admin: p.admin(b), cli: p.cli, registered: func() int {
		total := 0
		for _, v := range p.srv.Snapshot().Services {
			total += len(v.Instances)
		}
		return total
	}}
}

// pindProcess builds cmd/pind and runs it in its own process with its
// embedded etcd, until the benchmark ends.
func pindProcess(b *testing.B) *scalePind {
	bin := filepath.Join(b.TempDir(), "pind")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/rollpin/rollpin/cmd/pind").CombinedOutput(); err != nil {
		b.Fatalf("go build cmd/pind: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PIND_LISTEN=127.0.0.1:0", "PIND_DATA_DIR="+b.TempDir(), "PIND_SETTLE=1h")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "pind serving" {
				addr <- rec.Listen
			}
		}
	}()
	p := &scalePind{pid: cmd.Process.Pid}
	select {
	case p.addr = <-addr:
	case <-time.After(time.Minute):
		b.Fatal("pind binary not serving after a minute")
	}
	cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	p.admin = rollpinv1.NewPinServiceClient(cc)
	p.registered = func() int {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		resp, err := p.admin.ListInstances(ctx, &rollpinv1.ListInstancesRequest{})
		if err != nil {
			return -1
		}
		return len(resp.GetInstances())
	}
	return p
}

func benchScaleRegistrations(b *testing.B, n, perService int, p *scalePind) {
	nsvc := n / perService
	admin := p.admin
	svc := func(i int) string { return fmt.Sprintf("acme.scale.v1.Service%04d", i) }
	svc0 := svc(0)
	for i := range nsvc {
		setPin(b, admin, svc(i), "acme.scale.v1=1.3", true)
	}

	// One connection per 100 instances keeps the file descriptors in
	// bounds; every instance has its own stream.
	const perConn = 100
	var conns []*grpc.ClientConn
	for range (n + perConn - 1) / perConn {
		cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		conns = append(conns, cc)
	}

	var (
		target   atomic.Pointer[string] // pin manifest of the change being timed
		start    atomic.Int64           // UnixNano when the change was sent
		pending  atomic.Int64           // streams yet to receive it
		arrived  = make(chan struct{}, 1)
		latency  = make([]int64, n)
		lastRev  = make([]atomic.Int64, n)
		retries  atomic.Int64
		started  sync.WaitGroup
		finished sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		finished.Wait()
	}()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	started.Add(n)
	finished.Add(n)
	// At most 64 registrations in flight at once, as a fleet rolling out
	// would; a registration pind answers UNAVAILABLE (etcd overloaded) is
	// retried, as pinclient.Client does.
	sem := make(chan struct{}, 64)
	for i := range n {
		go func() {
			defer finished.Done()
			pc := rollpinv1.NewPinServiceClient(conns[i/perConn])
			req := &rollpinv1.RegisterRequest{
				Instance: &rollpinv1.Instance{Id: fmt.Sprintf("inst-%05d", i), Manifest: "acme.scale.v1=1.3", Address: "10.0.0.1:8080"},
				Services: []string{svc(i / perService)},
			}
			first := true
			for ctx.Err() == nil {
				if first {
					sem <- struct{}{}
				}
				st, err := pc.Register(ctx, req)
				for err == nil {
					var r *rollpinv1.RegisterResponse
					if r, err = st.Recv(); err != nil {
						break
					}
					rev := r.GetUpdate().GetRevision()
					lastRev[i].Store(rev)
					if first {
						first = false
						<-sem
						started.Done()
					}
					if t := target.Load(); t != nil && latency[i] == 0 && updateHasPin(r.GetUpdate(), svc0, *t) {
						latency[i] = time.Now().UnixNano() - start.Load()
						if pending.Add(-1) == 0 {
							arrived <- struct{}{}
						}
					}
				}
				if first {
					<-sem
				}
				if ctx.Err() == nil {
					retries.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
			}
			if first {
				started.Done()
			}
		}()
	}
	started.Wait()
	waitLong(b, "every instance registered", func() bool { return p.registered() == n })
	// Register streams receive only the updates that move a pin or a cap:
	// every stream has its snapshot (started) and pind's state holds every
	// instance.
	rampUp := time.Since(t0)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perStream := (float64(after.HeapAlloc+after.StackInuse) - float64(before.HeapAlloc+before.StackInuse)) / float64(n)

	leases, maxKeys := -1, -1
	if p.cli != nil {
		leases, maxKeys = leaseCounts(b, p.cli)
	}

	var all []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range latency {
			latency[j] = 0
		}
		pending.Store(int64(n))
		manifest := "acme.scale.v1=1.2"
		if i%2 == 1 {
			manifest = "acme.scale.v1=1.3"
		}
		// The target is set before the write so that no stream can miss it.
		target.Store(&manifest)
		start.Store(time.Now().UnixNano())
		if _, err := admin.SetPin(context.Background(), &rollpinv1.SetPinRequest{Service: svc0, Manifest: manifest, Reason: "scale benchmark"}); err != nil {
			b.Fatalf("SetPin: %v", err)
		}
		select {
		case <-arrived:
		case <-time.After(2 * time.Minute):
			b.Fatalf("%d streams never received the pin change", pending.Load())
		}
		lat := make([]time.Duration, n)
		for j, ns := range latency {
			lat[j] = time.Duration(ns)
		}
		slices.Sort(lat)
		all = append(all, lat...)
		target.Store(nil)
	}
	b.StopTimer()
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if p.cli != nil {
		// pind shares this process: its etcd leases and memory are here.
		b.ReportMetric(float64(leases), "leases")
		b.ReportMetric(float64(maxKeys), "reg-lease-keys")
		b.ReportMetric(perStream, "bytes/stream")
		b.ReportMetric(float64(after.HeapAlloc)/(1<<20), "heap-MiB")
	}
	if rss, peak, ok := residentMiB(p.pid); ok {
		b.ReportMetric(rss, "rss-MiB")
		b.ReportMetric(peak, "peak-rss-MiB")
	}
	b.ReportMetric(rampUp.Seconds(), "register-s")
	b.ReportMetric(ms(all[len(all)/2]), "p50-ms")
	b.ReportMetric(ms(all[len(all)*99/100]), "p99-ms")
	b.ReportMetric(ms(all[len(all)-1]), "all-ms")
	b.Logf("%d instances, %d services, %d Register streams on %d connections: %d etcd leases (the registration lease holds %d keys; -1: pind in its own process), %.0f bytes per stream in this process, registered in %v (%d registrations retried)",
		n, nsvc, n, len(conns), leases, maxKeys, perStream, rampUp.Round(time.Millisecond), retries.Load())
}

// leaseCounts returns how many etcd leases exist and the most keys one of
// them holds.
func leaseCounts(b *testing.B, cli *clientv3.Client) (leases, maxKeys int) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resp, err := cli.Leases(ctx)
	if err != nil {
		b.Fatalf("Leases: %v", err)
	}
	for _, l := range resp.Leases {
		ttl, err := cli.TimeToLive(ctx, l.ID, clientv3.WithAttachedKeys())
		if err != nil {
			b.Fatalf("TimeToLive: %v", err)
		}
		maxKeys = max(maxKeys, len(ttl.Keys))
	}
	return len(resp.Leases), maxKeys
}

// residentMiB returns the resident set size of process pid (0: this one)
// and its peak, in MiB, as Linux reports them (ok is false elsewhere).
func residentMiB(pid int) (rss, peak float64, ok bool) {
	proc := "self"
	if pid != 0 {
		proc = strconv.Itoa(pid)
	}
	b, err := os.ReadFile("/proc/" + proc + "/status")
	if err != nil {
		return 0, 0, false
	}
	field := func(name string) (float64, bool) {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, found := strings.CutPrefix(line, name+":"); found {
				kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				return kb / 1024, err == nil
			}
		}
		return 0, false
	}
	rss, ok1 := field("VmRSS")
	peak, ok2 := field("VmHWM")
	return rss, peak, ok1 && ok2
}

// updateHasPin reports whether u carries service's pin at manifest.
func updateHasPin(u *rollpinv1.PinUpdate, service, manifest string) bool {
	for _, st := range u.GetServices() {
		if st.GetService() == service {
			return st.GetPin().GetManifest() == manifest
		}
	}
	return false
}

// waitLong is eventually with a bound fit for thousands of streams.
func waitLong(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(20 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("still not true after 20m: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
