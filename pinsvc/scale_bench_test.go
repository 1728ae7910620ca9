package pinsvc

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
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
			benchScaleRegistrations(b, n, perService)
		})
	}
}

func benchScaleRegistrations(b *testing.B, n, perService int) {
	nsvc := n / perService
	c := etcdtest.Start(b)
	// A long settle keeps the controller from raising the pins the
	// benchmark lowers.
	p := startPind(b, c, "pind-0", "", WithSettle(time.Hour), WithLeaseTTL(DefaultLeaseTTL))
	admin := p.admin(b)
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
	waitLong(b, "every instance registered", func() bool {
		st := p.srv.Snapshot()
		total := 0
		for _, v := range st.Services {
			total += len(v.Instances)
		}
		return total == n
	})
	// Register streams receive only the updates that move a pin or a cap:
	// every stream has its snapshot (started) and pind's state holds every
	// instance.
	rampUp := time.Since(t0)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perStream := (float64(after.HeapAlloc+after.StackInuse) - float64(before.HeapAlloc+before.StackInuse)) / float64(n)

	lctx, lcancel := context.WithTimeout(context.Background(), waitFor)
	defer lcancel()
	leases, err := p.cli.Leases(lctx)
	if err != nil {
		b.Fatalf("Leases: %v", err)
	}
	maxKeys := 0
	for _, l := range leases.Leases {
		ttl, err := p.cli.TimeToLive(lctx, l.ID, clientv3.WithAttachedKeys())
		if err != nil {
			b.Fatalf("TimeToLive: %v", err)
		}
		maxKeys = max(maxKeys, len(ttl.Keys))
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
	b.ReportMetric(float64(len(leases.Leases)), "leases")
	b.ReportMetric(float64(maxKeys), "reg-lease-keys")
	b.ReportMetric(perStream, "bytes/stream")
	b.ReportMetric(float64(after.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(rampUp.Seconds(), "register-s")
	b.ReportMetric(ms(all[len(all)/2]), "p50-ms")
	b.ReportMetric(ms(all[len(all)*99/100]), "p99-ms")
	b.ReportMetric(ms(all[len(all)-1]), "all-ms")
	b.Logf("%d instances, %d services, %d Register streams on %d connections: %d etcd leases (the registration lease holds %d keys), %.0f bytes per stream, registered in %v (%d registrations retried)",
		n, nsvc, n, len(conns), len(leases.Leases), maxKeys, perStream, rampUp.Round(time.Millisecond), retries.Load())
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
