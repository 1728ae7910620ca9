package pinsvc

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// setPinRetrying retries a write while etcd elects a new leader.
func setPinRetrying(t testing.TB, c rollpinv1.PinServiceClient, svc, m string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: svc, Manifest: m, Force: true, Reason: "cluster test"})
		if err == nil {
			return
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			t.Fatalf("SetPin(%s): %v", m, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestThreeMemberClusterSurvivesAMemberLoss(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.StartCluster(t, 3)
	cli := cluster.Client(t)
	// The default lease TTL: losing the etcd leader stalls keep-alives for
	// an election, which must stay well under half the TTL.
	ts := startServer(t, cli, WithLeaseTTL(DefaultLeaseTTL))
	c := ts.cli
	w := watch(t, c, 0)
	if _, err := register(t, c, "i1", "acme.volume.v1=1.0", testSvc); err != nil {
		t.Fatalf("Register: %v", err)
	}
	for i := 1; i <= 5; i++ {
		setPinRetrying(t, c, testSvc, fmt.Sprintf("0.%d", i))
	}

	// Stop the etcd leader: the hardest member to lose.
	leader := -1
	for i := range 3 {
		if m := cluster.Member(i); m != nil && uint64(m.Server.Lead()) == uint64(m.Server.MemberID()) {
			leader = i
		}
	}
	if leader < 0 {
		leader = 0
	}
	cluster.Stop(t, leader)

	for i := 6; i <= 10; i++ {
		setPinRetrying(t, c, testSvc, fmt.Sprintf("0.%d", i))
	}
	gp, err := c.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{Service: testSvc})
	if err != nil || gp.GetServices()[0].GetPin().GetManifest() != "acme.volume.v1=0.10" || len(gp.GetServices()[0].GetInstances()) != 1 {
		t.Fatalf("GetPins after losing a member = %v, %v; want pin 0.10 and instance i1", gp, err)
	}
	// The stream saw every change, in order, with no snapshot in between.
	ups := w.waitFor(t, "pin 0.10", sawPin(testSvc, "acme.volume.v1=0.10"))
	var got []string
	for _, u := range ups[1:] {
		if u.GetSnapshot() {
			t.Errorf("snapshot in the middle of the stream at revision %d", u.GetRevision())
		}
		for _, s := range u.GetServices() {
			if m := s.GetPin().GetManifest(); m != "" && (len(got) == 0 || got[len(got)-1] != m) {
				got = append(got, m)
			}
		}
	}
	var want []string
	for i := 1; i <= 10; i++ {
		want = append(want, fmt.Sprintf("acme.volume.v1=0.%d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("stream saw pins %v, want %v", got, want)
	}
	// New streams and registrations still work.
	w2 := watch(t, c, 0)
	w2.waitFor(t, "a snapshot on a new stream", sawPin(testSvc, "acme.volume.v1=0.10"))
	if _, err := register(t, c, "i2", "acme.volume.v1=1.0", testSvc); err != nil {
		t.Fatalf("Register after losing a member: %v", err)
	}
}
