package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Cluster is a set of embedded etcd members started by Start or
// StartCluster.
type Cluster struct {
	mu        sync.Mutex
	members   []*embed.Etcd
	endpoints []string
}

// Start starts a single-member etcd and stops it when the test ends.
func Start(t testing.TB) *Cluster { return StartCluster(t, 1) }

// StartCluster starts an n-member etcd cluster on loopback and stops it when
// the test ends. It fails the test when the cluster is not ready in 30 s.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	type ports struct{ client, peer string }
	ps := make([]ports, n)
	for i := range ps {
		ps[i] = ports{client: freeAddr(t), peer: freeAddr(t)}
	}
	var initial []string
	for i, p := range ps {
		initial = append(initial, fmt.Sprintf("m%d=http://%s", i, p.peer))
	}
	c := &Cluster{}
	cfgs := make([]*embed.Config, n)
	for i, p := range ps {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = t.TempDir()
		cu := url.URL{Scheme: "http", Host: p.client}
		pu := url.URL{Scheme: "http", Host: p.peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "etcdtest"
		cfg.LogLevel = "error"
		// Tests that enable etcd auth hash passwords: the cheapest cost keeps
		// them fast under the race detector on a loaded machine.
		cfg.BcryptCost = 4
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfgs[i] = cfg
		c.endpoints = append(c.endpoints, cu.String())
	}
	// Members of a new cluster wait for each other: start them concurrently.
	errs := make([]error, n)
	var wg sync.WaitGroup
	c.members = make([]*embed.Etcd, n)
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.members[i], errs[i] = embed.StartEtcd(cfg)
		}()
	}
	wg.Wait()
	t.Cleanup(c.close)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("etcdtest: start member %d: %v", i, err)
		}
	}
	for i, e := range c.members {
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(30 * time.Second):
			t.Fatalf("etcdtest: member %d not ready after 30s", i)
		}
	}
	return c
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: reserve port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Endpoints returns the client URLs of every member.
func (c *Cluster) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// Member returns the i-th embedded server.
func (c *Cluster) Member(i int) *embed.Etcd {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i]
}

// Client returns a client connected to every member; it is closed when the
// test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
	})
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Stop stops member i (the others keep running).
func (c *Cluster) Stop(t testing.TB, i int) {
	t.Helper()
	c.mu.Lock()
	e := c.members[i]
	c.members[i] = nil
	c.mu.Unlock()
	if e != nil {
		e.Close()
		<-e.Server.StopNotify()
	}
}

func (c *Cluster) close() {
	c.mu.Lock()
	ms := c.members
	c.members = nil
	c.mu.Unlock()
	for _, e := range ms {
		if e != nil {
			e.Close()
		}
	}
}
