package etcdtest

import (
	"context"
	"testing"
	"time"
)

func TestMain(m *testing.M) { VerifyTestMain(m) }

func TestClusterSurvivesOneMemberStop(t *testing.T) {
	c := StartCluster(t, 3)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v1"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	c.Stop(t, 0)
	if _, err := cli.Put(ctx, "k", "v2"); err != nil {
		t.Fatalf("Put after stopping a member: %v", err)
	}
	resp, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got := string(resp.Kvs[0].Value); got != "v2" {
		t.Fatalf("Get(k) = %q, want %q", got, "v2")
	}
}

// Every member of a cluster is a voter and every address was picked by the
// kernel when etcd bound it (port 0), never reserved beforehand and released.
func TestMembersBindPortZero(t *testing.T) {
	c := StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ml, err := c.Client(t).MemberList(ctx)
	if err != nil {
		t.Fatalf("MemberList: %v", err)
	}
	if len(ml.Members) != 3 {
		t.Fatalf("MemberList = %d members, want 3", len(ml.Members))
	}
	for _, m := range ml.Members {
		if m.IsLearner {
			t.Errorf("member %s is still a learner", m.Name)
		}
	}
	for i := range 3 {
		cfg := c.Member(i).Config()
		for _, u := range append(cfg.ListenClientUrls, cfg.ListenPeerUrls...) {
			if u.Port() != "0" {
				t.Errorf("member %d listens on %s, want port 0 (bound by etcd itself)", i, u.String())
			}
		}
	}
	if eps := c.Endpoints(); len(eps) != 3 || eps[0] == eps[1] || eps[1] == eps[2] {
		t.Errorf("Endpoints() = %v, want 3 distinct endpoints", eps)
	}
}
