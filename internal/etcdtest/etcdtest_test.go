package etcdtest

import (
	"context"
	"testing"
	"time"
)

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
