package pinclient

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// gate is a stream interceptor in front of a real pind: it counts the
// calls per method and refuses those refuse names with its status.
type gate struct {
	registers, watches atomic.Int64
	refuse             func(method string, ss grpc.ServerStream) error
}

func (g *gate) option() grpc.ServerOption {
	return grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		switch info.FullMethod {
		case rollpinv1.PinService_Register_FullMethodName:
			g.registers.Add(1)
		case rollpinv1.PinService_WatchPins_FullMethodName:
			g.watches.Add(1)
		}
		if g.refuse != nil {
			if err := g.refuse(info.FullMethod, ss); err != nil {
				return err
			}
		}
		return handler(srv, ss)
	})
}

// waitRefused waits for the client's first answer from pind and returns it.
func waitRefused(t *testing.T, cl *Client) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err := cl.WaitForSync(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForSync: %v, want pind's refusal", err)
	}
	return err
}

// TestRegistrationRefusedForGoodIsNotRetried: a Register that can never
// succeed is reported (WaitForSync, Err, WithOnError) and never sent again;
// the client watches the pins instead, so its own calls stay capped.
func TestRegistrationRefusedForGoodIsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name     string
		services []string
		refuse   codes.Code // refused by an auth layer in front of pind; OK: by pind itself
		want     codes.Code
	}{
		{"pind: invalid service name", []string{"not a service!"}, codes.OK, codes.InvalidArgument},
		{"no credentials", []string{svcA}, codes.Unauthenticated, codes.Unauthenticated},
		{"not allowed", []string{svcA}, codes.PermissionDenied, codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &gate{}
			if tc.refuse != codes.OK {
				g.refuse = func(method string, _ grpc.ServerStream) error {
					if method == rollpinv1.PinService_Register_FullMethodName {
						return status.Error(tc.refuse, "refused by the test's auth layer")
					}
					return nil
				}
			}
			p := startPind(t, etcdtest.Start(t), "pind-0", "", g.option())
			admin := p.admin(t)
			setPin(t, admin, svcA, "acme.volume.v1=1.3", true)
			reported := make(chan error, 10)
			cl := newTestClient(t, []string{p.addr},
				WithRegistration(Registration{ID: "inst-1", Services: tc.services, Manifest: mustManifest(t, "acme.volume.v1=1.3")}),
				WithOnError(func(err error) { reported <- err }))

			err := waitRefused(t, cl)
			var rerr *RegistrationError
			if !errors.As(err, &rerr) || status.Code(err) != tc.want {
				t.Fatalf("WaitForSync = %v, want a *RegistrationError with %v", err, tc.want)
			}
			if got := <-reported; status.Code(got) != tc.want {
				t.Errorf("WithOnError got %v, want %v", got, tc.want)
			}
			// Still following the pins, through a watch.
			setPin(t, admin, svcA, "acme.volume.v1=1.4", true)
			eventually(t, "refused client still follows the pins", func() bool { return capIs(cl, svcA, "acme.volume.v1=1.4") })
			if err := cl.Err(); status.Code(err) != tc.want {
				t.Errorf("Err() = %v, want %v", err, tc.want)
			}
			cl.Close()
			if n := g.registers.Load(); n != 1 {
				t.Errorf("Register sent %d times, want 1", n)
			}
		})
	}
}

// TestTakenIDRegistersOnceFree: a Register that pind refuses because
// another live stream holds the ID (ALREADY_EXISTS) is not retried while
// that holder lives; once the ID has left the pins, the instance registers.
func TestTakenIDRegistersOnceFree(t *testing.T) {
	g := &gate{}
	p := startPind(t, etcdtest.Start(t), "pind-0", "", g.option())
	admin := p.admin(t)
	reg := WithRegistration(Registration{ID: "dup", Services: []string{svcA}, Manifest: mustManifest(t, "acme.volume.v1=1.3")})
	holder := newTestClient(t, []string{p.addr}, reg)
	waitSync(t, holder)
	eventually(t, "holder registered", func() bool { return slices.Contains(p.instanceIDs(svcA), "dup") })

	second := newTestClient(t, []string{p.addr}, reg)
	err := waitRefused(t, second)
	if !errors.Is(err, ErrIDTaken) || status.Code(err) != codes.AlreadyExists {
		t.Fatalf("WaitForSync of the second claim = %v, want ErrIDTaken with ALREADY_EXISTS", err)
	}
	setPin(t, admin, svcA, "acme.volume.v1=1.3", true)
	eventually(t, "second client follows the pins", func() bool { return capIs(second, svcA, "acme.volume.v1=1.3") })
	if n := g.registers.Load(); n != 2 {
		t.Fatalf("Register sent %d times while the holder lives, want 2 (holder, one refused claim)", n)
	}

	holder.Close() // the ID leaves the pins
	eventually(t, "second client registered once the ID was free", func() bool {
		return second.Err() == nil && slices.Contains(p.instanceIDs(svcA), "dup")
	})
	if n := g.registers.Load(); n != 3 {
		t.Errorf("Register sent %d times in all, want 3", n)
	}
}

// TestWatchRefusedForGoodStops: a WatchPins that can never succeed is
// reported and not sent again.
func TestWatchRefusedForGoodStops(t *testing.T) {
	g := &gate{refuse: func(method string, _ grpc.ServerStream) error {
		return status.Error(codes.Unauthenticated, "refused by the test's auth layer")
	}}
	p := startPind(t, etcdtest.Start(t), "pind-0", "", g.option())
	cl := newTestClient(t, []string{p.addr})
	if err := waitRefused(t, cl); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("WaitForSync = %v, want UNAUTHENTICATED", err)
	}
	cl.Close()
	if n := g.watches.Load(); n != 1 {
		t.Errorf("WatchPins sent %d times, want 1", n)
	}
}

// TestRegistrationMovesWhenItsPindCrashes: when the pind holding a
// registration dies, its lease keeps the instance's key — and pind keeps the
// ID owned by the dead stream — until the TTL. The client fails over at once
// (even with a backoff longer than the TTL), is refused once
// (ALREADY_EXISTS), does not loop on that refusal, and registers through
// the other pind as soon as the old lease has expired.
func TestRegistrationMovesWhenItsPindCrashes(t *testing.T) {
	c := etcdtest.Start(t)
	g := &gate{}
	p0 := startPind(t, c, "pind-0", "", g.option())
	p1 := startPind(t, c, "pind-1", "", g.option())
	cl := newTestClient(t, []string{p0.addr, p1.addr},
		WithBackoff(5*time.Second, 5*time.Second), // longer than the 2s lease TTL
		WithRegistration(Registration{ID: "inst-1", Services: []string{svcA}, Manifest: mustManifest(t, "acme.volume.v1=1.3")}))
	waitSync(t, cl)

	etcd := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	key := "/rollpin/instances/" + svcA + "/inst-1"
	var got *clientv3.GetResponse
	eventually(t, "instance key written", func() bool {
		r, err := etcd.Get(ctx, key)
		got = r
		return err == nil && len(r.Kvs) == 1
	})
	lease0 := clientv3.LeaseID(got.Kvs[0].Lease)

	p0.crash() // its lease, and the instance's key on it, live on until the TTL
	eventually(t, "the client's claim through pind-1 refused", func() bool { return errors.Is(cl.Err(), ErrIDTaken) })
	eventually(t, "the instance registered through pind-1 on its own lease", func() bool {
		r, err := etcd.Get(ctx, key)
		return err == nil && len(r.Kvs) == 1 && clientv3.LeaseID(r.Kvs[0].Lease) != lease0 && cl.Err() == nil
	})
	if r, err := etcd.TimeToLive(ctx, lease0); err != nil || r.TTL != -1 {
		t.Errorf("instance registered again while the crashed pind's lease lives (TTL %d, %v)", r.TTL, err)
	}
	if n := g.registers.Load(); n != 3 {
		t.Errorf("Register sent %d times, want 3 (pind-0, one refused claim, the registration once free)", n)
	}
}
