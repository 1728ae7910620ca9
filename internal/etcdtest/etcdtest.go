package etcdtest

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// readyTimeout bounds the start of one member.
const readyTimeout = 30 * time.Second

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
// the test ends. It fails the test when a member is not ready in 30 s.
//
// Every member binds port 0 (the kernel picks a free port, so tests running
// in parallel never race for one): the first member starts alone, and each
// further member joins as a learner whose peer address is published once it
// is bound, then is promoted to a voting member.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("etcdtest: a cluster needs at least one member, not %d", n)
	}
	c := &Cluster{members: make([]*embed.Etcd, n)}
	t.Cleanup(c.close)
	first := newConfig(t, 0)
	first.InitialCluster = first.Name + "=" + first.AdvertisePeerUrls[0].String()
	e := c.startMember(t, 0, first)
	if n == 1 {
		return c
	}
	cli, err := c.newClient()
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*readyTimeout)
	defer cancel()
	// The first member advertises port 0 until told its real peer address.
	if _, err := cli.MemberUpdate(ctx, uint64(e.Server.MemberID()), []string{peerURL(e)}); err != nil {
		t.Fatalf("etcdtest: publish the peer address of member 0: %v", err)
	}
	for i := 1; i < n; i++ {
		cfg := newConfig(t, i)
		// etcd derives a new member's ID from its peer URLs and the time in
		// seconds: give each learner its own placeholder until its real
		// address is published below.
		cfg.AdvertisePeerUrls = []url.URL{{Scheme: "http", Host: fmt.Sprintf("127.0.0.%d:0", i+1)}}
		add, err := cli.MemberAddAsLearner(ctx, []string{cfg.AdvertisePeerUrls[0].String()})
		if err != nil {
			t.Fatalf("etcdtest: add member %d: %v", i, err)
		}
		cfg.ClusterState = embed.ClusterStateFlagExisting
		cfg.InitialCluster = ""
		for _, m := range add.Members {
			name := m.Name
			if m.ID == add.Member.ID {
				name = cfg.Name
			}
			for _, u := range m.PeerURLs {
				if cfg.InitialCluster != "" {
					cfg.InitialCluster += ","
				}
				cfg.InitialCluster += name + "=" + u
			}
		}
		started, err := embed.StartEtcd(cfg)
		if err != nil {
			t.Fatalf("etcdtest: start member %d: %v", i, err)
		}
		c.mu.Lock()
		c.members[i] = started
		c.mu.Unlock()
		if _, err := cli.MemberUpdate(ctx, add.Member.ID, []string{peerURL(started)}); err != nil {
			t.Fatalf("etcdtest: publish the peer address of member %d: %v", i, err)
		}
		c.waitReady(t, i, started)
		for {
			_, err := cli.MemberPromote(ctx, add.Member.ID)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("etcdtest: promote member %d: %v", i, err)
			}
			time.Sleep(20 * time.Millisecond) // the learner is still catching up
		}
	}
	return c
}

// newConfig returns the configuration of member i: loopback, port 0 for
// clients and peers, data in a temporary directory.
func newConfig(t testing.TB, i int) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = fmt.Sprintf("m%d", i)
	cfg.Dir = t.TempDir()
	zero := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{zero}, []url.URL{zero}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{zero}, []url.URL{zero}
	cfg.InitialClusterToken = "etcdtest"
	// Members join one after another: the next may be added as soon as the
	// previous one is promoted.
	cfg.StrictReconfigCheck = false
	cfg.LogLevel = "error"
	// Tests that enable etcd auth hash passwords: the cheapest cost keeps
	// them fast under the race detector on a loaded machine.
	cfg.BcryptCost = 4
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	return cfg
}

func (c *Cluster) startMember(t testing.TB, i int, cfg *embed.Config) *embed.Etcd {
	t.Helper()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("etcdtest: start member %d: %v", i, err)
	}
	c.mu.Lock()
	c.members[i] = e
	c.mu.Unlock()
	c.waitReady(t, i, e)
	return e
}

// waitReady waits for member i and records its client endpoint.
func (c *Cluster) waitReady(t testing.TB, i int, e *embed.Etcd) {
	t.Helper()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(readyTimeout):
		t.Fatalf("etcdtest: member %d not ready after %v", i, readyTimeout)
	}
	c.mu.Lock()
	c.endpoints = append(c.endpoints, "http://"+e.Clients[0].Addr().String())
	c.mu.Unlock()
}

func peerURL(e *embed.Etcd) string { return "http://" + e.Peers[0].Addr().String() }

// Endpoints returns the client URLs of every member.
func (c *Cluster) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.endpoints...)
}

// Member returns the i-th embedded server (nil once stopped).
func (c *Cluster) Member(i int) *embed.Etcd {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i]
}

// Client returns a client connected to every member; it is closed when the
// test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := c.newClient()
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func (c *Cluster) newClient() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
	})
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
