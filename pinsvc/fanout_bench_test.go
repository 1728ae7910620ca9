package pinsvc

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// fanoutConns is how many client connections (gRPC to pind, or etcd
// clients for the raw baseline) the subscribers are spread over.
const fanoutConns = 16

// BenchmarkFanout measures how long one pin change takes to reach all of N
// subscribers: N WatchPins streams on one pind (over bufconn), next to N raw
// etcd watchers on the same key in the same etcd (the floor). Each iteration
// writes the pin key once (the same etcd Put for both) and waits until every
// subscriber has received it; p50_ms and p99_ms are over iterations.
//
//	go test ./pinsvc -run '^$' -bench Fanout -benchtime 50x
func BenchmarkFanout(b *testing.B) {
	cluster := etcdtest.Start(b)
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("pind/N=%d", n), func(b *testing.B) { benchPindFanout(b, cluster, n) })
		b.Run(fmt.Sprintf("etcd/N=%d", n), func(b *testing.B) { benchEtcdFanout(b, cluster, n) })
	}
}

// fanoutRound counts the subscribers that have received the current change.
type fanoutRound struct {
	remaining atomic.Int64
	done      chan struct{}
}

func (r *fanoutRound) arrive() {
	if r.remaining.Add(-1) == 0 {
		r.done <- struct{}{}
	}
}

// runRounds writes the pin b.N times and reports the latency percentiles.
func runRounds(b *testing.B, cli *clientv3.Client, key string, n int, round *fanoutRound) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round.remaining.Store(int64(n))
		val := marshal(&rollpinv1.Pin{Manifest: fmt.Sprintf("acme.volume.v1=1.%d", i+1), Mode: rollpinv1.PinMode_PIN_MODE_AUTO})
		start := time.Now()
		if _, err := cli.Put(context.Background(), key, val); err != nil {
			b.Fatal(err)
		}
		select {
		case <-round.done:
		case <-time.After(60 * time.Second):
			b.Fatalf("round %d: %d of %d subscribers still waiting after 60s", i, round.remaining.Load(), n)
		}
		lat = append(lat, time.Since(start))
		if d := time.Since(start); d > 2*time.Second {
			b.Logf("round %d took %v", i, d)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

func benchPindFanout(b *testing.B, cluster *etcdtest.Cluster, n int) {
	cli := cluster.Client(b)
	prefix := fmt.Sprintf("/bench-%d-%d/", n, time.Now().UnixNano())
	logger := quietLogger()
	if os.Getenv("ROLLPIN_BENCH_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := NewServer(cli, WithPrefix(prefix), WithServerLogger(logger), WithLeaseTTL(5*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	srv.SetController(nil)
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	rollpinv1.RegisterPinServiceServer(gs, srv)
	go gs.Serve(lis)
	defer func() {
		srv.Close()
		gs.Stop()
	}()
	var conns []rollpinv1.PinServiceClient
	for range fanoutConns {
		conn, err := grpc.NewClient("passthrough:///bufnet",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, rollpinv1.NewPinServiceClient(conn))
	}
	ctx, cancel := context.WithCancel(context.Background())
	round := &fanoutRound{done: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var synced sync.WaitGroup
	for i := range n {
		st, err := conns[i%len(conns)].WatchPins(ctx, &rollpinv1.WatchPinsRequest{})
		if err != nil {
			b.Fatal(err)
		}
		synced.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Recv(); err != nil {
				synced.Done()
				return
			}
			synced.Done()
			for {
				if _, err := st.Recv(); err != nil {
					return
				}
				round.arrive()
			}
		}()
	}
	synced.Wait()
	runRounds(b, cli, prefix+"pins/"+testSvc, n, round)
}

func benchEtcdFanout(b *testing.B, cluster *etcdtest.Cluster, n int) {
	cli := cluster.Client(b)
	key := fmt.Sprintf("/bench-raw-%d-%d/pins/%s", n, time.Now().UnixNano(), testSvc)
	var clis []*clientv3.Client
	for range fanoutConns {
		c, err := clientv3.New(clientv3.Config{Endpoints: cluster.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clis = append(clis, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	round := &fanoutRound{done: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var synced sync.WaitGroup
	for i := range n {
		wch := clis[i%len(clis)].Watch(ctx, key, clientv3.WithCreatedNotify())
		synced.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for resp := range wch {
				if first {
					first = false
					synced.Done()
				}
				for range resp.Events {
					round.arrive()
				}
			}
			if first {
				synced.Done()
			}
		}()
	}
	synced.Wait()
	runRounds(b, cli, key, n, round)
}
