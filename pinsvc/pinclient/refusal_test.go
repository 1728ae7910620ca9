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
	"github.com/rollpin/rollpin/internal/netfault"
	"github.com/rollpin/rollpin/pinsvc"
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
// registration dies, its lease keeps the instance's key until the TTL. The
// client fails over at once (even with a backoff longer than the TTL) and,
// with the claim it registered with, takes its key over through the other
// pind while the old lease still lives: the instance never leaves the floor.
func TestRegistrationMovesWhenItsPindCrashes(t *testing.T) {
	c := etcdtest.Start(t)
	g := &gate{}
	p0 := startPind(t, c, "pind-0", "", g.option())
	p1 := startPind(t, c, "pind-1", "", g.option())
	cl := newTestClient(t, []string{p0.addr, p1.addr},
		WithBackoff(5*time.Second, 5*time.Second), // longer than the 4s lease TTL
		WithRegistration(Registration{ID: "inst-1", Services: []string{svcA}, Manifest: mustManifest(t, "acme.volume.v1=1.3")}))
	waitSync(t, cl)

	key := keyOf(t, c, "inst-1")
	p0.crash() // its lease, and the instance's key on it, live on until the TTL
	key.movedBeforeExpiry(t, cl)
	if n := g.registers.Load(); n != 2 {
		t.Errorf("Register sent %d times, want 2 (pind-0, then pind-1 taking the key over)", n)
	}
}

// A pind whose host vanished (or that a partition cut off from its
// clients) sends no reset: its streams fall silent and TCP would notice
// only after many minutes, while the dead pind's lease, and the instance's
// key on it, expire in etcd. The liveness probe notices the silence, and
// the client registers through the other pind, taking its key over while
// the old lease still lives: the instance never leaves the floor.
func TestRegistrationMovesWhenItsPindFallsSilent(t *testing.T) {
	c := etcdtest.Start(t)
	p0 := startPindWith(t, c, "pind-0", "", true, nil)
	p1 := startPindWith(t, c, "pind-1", "", true, nil)
	proxy := netfault.NewProxy(t, p0.addr)
	cl := newTestClient(t, []string{proxy.Addr(), p1.addr},
		WithLivenessProbe(300*time.Millisecond, 500*time.Millisecond), // well inside the 4s test TTL
		WithRegistration(Registration{ID: "inst-1", Services: []string{svcA}, Manifest: mustManifest(t, "acme.volume.v1=1.3")}))
	waitSync(t, cl)

	key := keyOf(t, c, "inst-1")
	proxy.Partition() // the client's connection to pind-0 stays open, silent
	p0.crash()        // and pind-0 is gone: its lease lives on until the TTL
	key.movedBeforeExpiry(t, cl)
}

// The default probe leaves a silent pind well within pind's default lease
// TTL, so that the instance registers elsewhere before its key expires.
func TestDefaultProbeWellUnderLeaseTTL(t *testing.T) {
	if d := DefaultProbeInterval + DefaultProbeTimeout; 2*d > pinsvc.DefaultLeaseTTL {
		t.Errorf("a silent pind is noticed after up to %v, want at most half pind's default lease TTL %v", d, pinsvc.DefaultLeaseTTL)
	}
}

// instanceKey is the etcd key of a registered instance of svcA and the
// lease it was first seen on.
type instanceKey struct {
	etcd  *clientv3.Client
	key   string
	lease clientv3.LeaseID
}

// keyOf waits for instance id of svcA to be registered and returns its key.
func keyOf(t *testing.T, c *etcdtest.Cluster, id string) *instanceKey {
	t.Helper()
	k := &instanceKey{etcd: c.Client(t), key: "/rollpin/instances/" + svcA + "/" + id}
	ctx := ctxT(t)
	eventually(t, "instance key written", func() bool {
		r, err := k.etcd.Get(ctx, k.key)
		if err != nil || len(r.Kvs) != 1 {
			return false
		}
		k.lease = clientv3.LeaseID(r.Kvs[0].Lease)
		return true
	})
	return k
}

// movedBeforeExpiry waits for the key to be on another lease, registered
// by cl, and checks that the first lease still lived then: the instance
// never left the floor.
func (k *instanceKey) movedBeforeExpiry(t *testing.T, cl *Client) {
	t.Helper()
	ctx := ctxT(t)
	eventually(t, "the instance registered through another pind on its own lease", func() bool {
		r, err := k.etcd.Get(ctx, k.key)
		return err == nil && len(r.Kvs) == 1 && clientv3.LeaseID(r.Kvs[0].Lease) != k.lease && cl.Err() == nil
	})
	if r, err := k.etcd.TimeToLive(ctx, k.lease); err != nil || r.TTL == -1 {
		t.Errorf("the key moved only after the first pind's lease expired (TTL %d, %v): want it taken over while that lease lives", r.TTL, err)
	}
}

// ctxT returns a context bounded by waitFor, cancelled when the test ends.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}
