package pinsvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/rollpin/rollpin/backport"
	volumepb "github.com/rollpin/rollpin/examples/volume/v2/volumepb"
	"github.com/rollpin/rollpin/interceptor"
	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc/pinclient"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// The end-to-end tests run a fleet of the example volume service: 1.4
// instances from the generated code, 1.3 instances from the committed 1.3
// descriptor set with dynamicpb messages (so they really know nothing of
// 1.4), each behind rollpin's server interceptor and registered with pind
// through a pinclient.Client; load clients at 1.4 call them through rollpin's
// client interceptor with caps from their own pinclient.Client.

const (
	volSvc    = "acme.volume.v1.VolumeService"
	volCreate = "/" + volSvc + "/CreateVolume"
	vol13     = "acme.volume.v1=1.3"
	vol14     = "acme.volume.v1=1.4"
)

// files13 loads the 1.3 schema of the example service.
func files13(t testing.TB) *protoregistry.Files {
	t.Helper()
	b, err := os.ReadFile("../examples/volume/v1/volume.binpb")
	if err != nil {
		t.Fatalf("read 1.3 descriptor set: %v", err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		t.Fatalf("decode 1.3 descriptor set: %v", err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		t.Fatalf("build 1.3 files: %v", err)
	}
	return files
}

// volume14 is a 1.4 instance's implementation: it echoes the request.
type volume14 struct {
	volumepb.UnimplementedVolumeServiceServer
	id    string
	multi atomic.Int64 // requests that arrived with multi_attach
}

func (s *volume14) CreateVolume(_ context.Context, r *volumepb.CreateVolumeRequest) (*volumepb.Volume, error) {
	if r.GetMultiAttach() {
		s.multi.Add(1)
	}
	return &volumepb.Volume{Id: s.id + "/" + r.GetName(), Name: r.GetName(), SizeGb: r.GetSizeGb(), Thin: r.GetThin(), MultiAttach: r.GetMultiAttach()}, nil
}

// volume13Desc serves CreateVolume of the 1.3 schema with dynamicpb
// messages.
func volume13Desc(t testing.TB, files *protoregistry.Files, id string) *grpc.ServiceDesc {
	find := func(name string) protoreflect.MessageDescriptor {
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatalf("1.3 schema: %v", err)
		}
		return d.(protoreflect.MessageDescriptor)
	}
	reqMD, volMD := find("acme.volume.v1.CreateVolumeRequest"), find("acme.volume.v1.Volume")
	handle := func(_ context.Context, req any) (any, error) {
		in := req.(*dynamicpb.Message)
		out := dynamicpb.NewMessage(volMD)
		name := in.Get(reqMD.Fields().ByName("name"))
		out.Set(volMD.Fields().ByName("id"), protoreflect.ValueOfString(id+"/"+name.String()))
		out.Set(volMD.Fields().ByName("name"), name)
		out.Set(volMD.Fields().ByName("size_gb"), in.Get(reqMD.Fields().ByName("size_gb")))
		return out, nil
	}
	return &grpc.ServiceDesc{
		ServiceName: volSvc,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "CreateVolume",
			Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				in := dynamicpb.NewMessage(reqMD)
				if err := dec(in); err != nil {
					return nil, err
				}
				if icpt == nil {
					return handle(ctx, in)
				}
				return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: volCreate}, handle)
			},
		}},
	}
}

// testInstance is one instance of the volume service: a gRPC server on
// loopback registered with pind.
type testInstance struct {
	id      string
	addr    string
	version string
	gs      *grpc.Server
	pins    *pinclient.Client
	man     backport.Manifest // the manifest it registers
	v14     *volume14
}

// startInstance starts an instance of version vol13 or vol14 registered
// through endpoints. It does not wait for the registration.
func startInstance(t testing.TB, version, id string, endpoints []string, opts ...pinclient.Option) *testInstance {
	t.Helper()
	in := &testInstance{id: id, version: version}
	if version == vol14 {
		in.gs = grpc.NewServer(grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()))
		in.v14 = &volume14{id: id}
		volumepb.RegisterVolumeServiceServer(in.gs, in.v14)
	} else {
		f := files13(t)
		in.gs = grpc.NewServer(grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor(interceptor.WithFiles(f))))
		in.gs.RegisterService(volume13Desc(t, f, id), struct{}{})
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in.addr = lis.Addr().String()
	go in.gs.Serve(lis)
	man := mustManifest(t, version)
	if version == vol14 {
		man = pinclient.ManifestFor(pinclient.ServicesOf(in.gs)) // the binary's own manifest
	}
	in.man = man
	in.pins = newTestClient(t, endpoints, append([]pinclient.Option{pinclient.WithRegistration(pinclient.Registration{
		ID: id, Services: pinclient.ServicesOf(in.gs), Manifest: man, Build: version, Address: in.addr,
	})}, opts...)...)
	t.Cleanup(in.stop)
	return in
}

// stop deregisters the instance, then stops serving once in-flight calls
// are done.
func (in *testInstance) stop() {
	in.pins.Close()
	in.gs.GracefulStop()
}

// fleet is the set of instances load clients call. Removing an instance
// waits for the calls in flight to it.
type fleet struct {
	mu    sync.RWMutex
	addrs []string
	next  atomic.Int64
}

func (f *fleet) add(addr string) {
	f.mu.Lock()
	f.addrs = append(f.addrs, addr)
	f.mu.Unlock()
}

func (f *fleet) remove(addr string) {
	f.mu.Lock()
	for i, a := range f.addrs {
		if a == addr {
			f.addrs = append(f.addrs[:i:i], f.addrs[i+1:]...)
			break
		}
	}
	f.mu.Unlock()
}

// loadClient is a 1.4 client calling the fleet through rollpin's client
// interceptor, with caps from its own pinclient.Client.
type loadClient struct {
	pins  *pinclient.Client
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
	calls atomic.Int64
	fails atomic.Int64
	errs  chan error
}

func newLoadClient(t testing.TB, endpoints []string) *loadClient {
	lc := &loadClient{pins: newTestClient(t, endpoints), conns: map[string]*grpc.ClientConn{}, errs: make(chan error, 100)}
	waitSync(t, lc.pins)
	t.Cleanup(func() {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		for _, cc := range lc.conns {
			cc.Close()
		}
	})
	return lc
}

func (lc *loadClient) conn(addr string) (*grpc.ClientConn, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if cc := lc.conns[addr]; cc != nil {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(lc.pins)))
	if err != nil {
		return nil, err
	}
	lc.conns[addr] = cc
	return cc, nil
}

// call sends one CreateVolume to addr and checks the answer.
func (lc *loadClient) call(addr string, req *volumepb.CreateVolumeRequest) (*volumepb.Volume, error) {
	cc, err := lc.conn(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := volumepb.NewVolumeServiceClient(cc).CreateVolume(ctx, req)
	if err == nil && (v.GetName() != req.GetName() || v.GetSizeGb() != req.GetSizeGb()) {
		err = fmt.Errorf("answer %v does not match request %v", v, req)
	}
	return v, err
}

// run calls the fleet round-robin until ctx ends; every failure is
// recorded.
func (lc *loadClient) run(ctx context.Context, f *fleet, name string) {
	for i := 0; ctx.Err() == nil; i++ {
		f.mu.RLock()
		if len(f.addrs) == 0 {
			f.mu.RUnlock()
			time.Sleep(5 * time.Millisecond)
			continue
		}
		addr := f.addrs[int(f.next.Add(1))%len(f.addrs)]
		_, err := lc.call(addr, &volumepb.CreateVolumeRequest{Name: fmt.Sprintf("%s-%d", name, i), SizeGb: int64(i%50 + 1)})
		f.mu.RUnlock()
		lc.calls.Add(1)
		if err != nil {
			lc.fails.Add(1)
			select {
			case lc.errs <- fmt.Errorf("call to %s: %w", addr, err):
			default:
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pinOf returns the pin manifest and raise state p serves for the volume
// service.
func pinOf(p *testPind) (string, rollpinv1.RaiseState) {
	v := p.srv.Snapshot().Service(volSvc)
	if v == nil || v.Pin == nil {
		return "", 0
	}
	return v.Pin.GetManifest(), p.srv.raiseFunc()(v, time.Now()).GetState()
}

// holdsFor checks that cond stays true for d (an absence-of-change check
// over a bounded window, not a timing assertion).
func holdsFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if !cond() {
			t.Fatalf("no longer true: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func registered(p *testPind, ids ...string) bool {
	v := p.srv.Snapshot().Service(volSvc)
	if v == nil || len(v.Instances) != len(ids) {
		return false
	}
	for i, in := range v.Instances {
		if in.GetId() != ids[i] {
			return false
		}
	}
	return true
}

// TestRollingUpgrade replaces three 1.3 instances by 1.4 ones while clients
// keep calling: the pin stays 1.3 until the last 1.3 instance is gone and
// the fleet settled, then rises to 1.4 by itself; clients use it on their
// next call; a 1.3 instance is then refused until the pin is lowered.
func TestRollingUpgrade(t *testing.T) {
	c := etcdtest.Start(t)
	p := startPind(t, c, "pind-0", "")
	eps := []string{p.addr}
	admin := p.admin(t)

	var f fleet
	olds := []*testInstance{
		startInstance(t, vol13, "old-1", eps), startInstance(t, vol13, "old-2", eps), startInstance(t, vol13, "old-3", eps),
	}
	for _, in := range olds {
		f.add(in.addr)
	}
	eventually(t, "the controller creates the pin at the first floor 1.3", func() bool {
		pin, _ := pinOf(p)
		return pin == vol13
	})

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	clients := []*loadClient{newLoadClient(t, eps), newLoadClient(t, eps)}
	for i, lc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lc.run(ctx, &f, fmt.Sprintf("c%d", i))
		}()
	}
	stopLoad := sync.OnceFunc(func() { cancel(); wg.Wait() })
	defer stopLoad()

	// Replace the instances one by one.
	var news []*testInstance
	for i, old := range olds {
		n := startInstance(t, vol14, fmt.Sprintf("new-%d", i+1), eps)
		if got := n.man.String(); got != vol14 {
			t.Fatalf("ManifestFor(1.4 server) = %q, want %q", got, vol14)
		}
		waitSync(t, n.pins)
		f.add(n.addr)
		news = append(news, n)
		f.remove(old.addr)
		old.stop()
		if i < len(olds)-1 {
			remaining := []string{}
			for _, o := range olds[i+1:] {
				remaining = append(remaining, o.id)
			}
			eventually(t, "GetPins says the raise is blocked by the remaining 1.3 instances", func() bool {
				resp, err := admin.GetPins(context.Background(), &rollpinv1.GetPinsRequest{Service: volSvc})
				if err != nil || len(resp.GetServices()) != 1 {
					return false
				}
				r := resp.GetServices()[0].GetRaise()
				return r.GetState() == rollpinv1.RaiseState_RAISE_STATE_BLOCKED && slices.Equal(r.GetBlockingInstances(), remaining)
			})
			holdsFor(t, "pin stays 1.3 while 1.3 instances are live", 3*testSettle, func() bool {
				pin, _ := pinOf(p)
				return pin == vol13
			})
			for _, lc := range clients {
				if m, _ := lc.pins.Cap(volSvc); m.String() != vol13 {
					t.Fatalf("client cap = %s with 1.3 instances live, want %s", m, vol13)
				}
			}
		}
	}
	eventually(t, "the pin rises to 1.4 by itself after the settle window", func() bool {
		pin, _ := pinOf(p)
		return pin == vol14
	})
	if v := p.srv.Snapshot().Service(volSvc); v.Pin.GetUpdatedBy() != ControllerIdentity || !strings.Contains(v.Pin.GetReason(), "automatic raise") {
		t.Errorf("raised pin by %q reason %q, want the controller's automatic raise", v.Pin.GetUpdatedBy(), v.Pin.GetReason())
	}
	// Clients see the new cap; their next call uses 1.4 (multi_attach,
	// refused below 1.4, goes through).
	for i, lc := range clients {
		eventually(t, "client sees cap 1.4", func() bool { return capIs(lc.pins, volSvc, vol14) })
		before := news[0].v14.multi.Load()
		if _, err := lc.call(news[0].addr, &volumepb.CreateVolumeRequest{Name: fmt.Sprintf("multi-%d", i), SizeGb: 1, MultiAttach: true}); err != nil {
			t.Fatalf("1.4-only call after the raise: %v", err)
		}
		if got := news[0].v14.multi.Load(); got != before+1 {
			t.Errorf("1.4 instance saw multi_attach %d times, want %d", got, before+1)
		}
	}

	// A 1.3 instance that registers now is refused, told the pin and the fix.
	late := startInstance(t, vol13, "late-old", eps)
	wctx, wcancel := context.WithTimeout(context.Background(), waitFor)
	defer wcancel()
	err := late.pins.WaitForSync(wctx)
	if !errors.Is(err, pinclient.ErrFenced) || status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("late 1.3 registration: %v, want FAILED_PRECONDITION (ErrFenced)", err)
	}
	for _, want := range []string{vol14, "pindctl pin lower " + volSvc + " 1.3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("fencing error %q does not mention %q", err, want)
		}
	}
	// Roll-back: hold the pin (so that the controller does not raise it
	// again before the old instance is back), then lower it: the instance
	// gets in, its client retrying by itself.
	if _, err := admin.Hold(context.Background(), &rollpinv1.HoldRequest{Service: volSvc, Reason: "roll-back to 1.3"}); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	setPin(t, admin, volSvc, "1.3", false)
	eventually(t, "1.3 instance admitted after the pin was lowered", func() bool {
		return late.pins.Err() == nil && registered(p, "late-old", "new-1", "new-2", "new-3")
	})
	f.add(late.addr)
	for _, lc := range clients {
		eventually(t, "clients cap at 1.3 again", func() bool { return capIs(lc.pins, volSvc, vol13) })
	}

	stopLoad()
	var total, failed int64
	for _, lc := range clients {
		total += lc.calls.Load()
		failed += lc.fails.Load()
		close(lc.errs)
		for err := range lc.errs {
			t.Errorf("call failed: %v", err)
		}
	}
	if total == 0 || failed != 0 {
		t.Errorf("load: %d calls, %d failed; want calls and no failure", total, failed)
	}
	t.Logf("load: %d calls during the rolling upgrade, %d failed", total, failed)
}

// TestPindOutageDuringTraffic: pind goes away while clients call; they keep
// their last pins and no call fails; a change made meanwhile reaches them
// when pind is back.
func TestPindOutageDuringTraffic(t *testing.T) {
	c := etcdtest.Start(t)
	p0 := startPind(t, c, "pind-0", "")
	addr0 := p0.addr
	eps := []string{addr0}
	var f fleet
	for i := range 2 {
		in := startInstance(t, vol14, fmt.Sprintf("new-%d", i), eps)
		waitSync(t, in.pins)
		f.add(in.addr)
	}
	setPin(t, p0.admin(t), volSvc, "1.3", false)
	lc := newLoadClient(t, eps)
	eventually(t, "client caps at 1.3", func() bool { return capIs(lc.pins, volSvc, vol13) })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		lc.run(ctx, &f, "c")
	}()
	defer func() { cancel(); <-done }()

	p0.crash()
	calls := lc.calls.Load()
	holdsFor(t, "client keeps its last pin while pind is down", 5*testSettle, func() bool { return capIs(lc.pins, volSvc, vol13) })
	eventually(t, "calls continue while pind is down", func() bool { return lc.calls.Load() > calls+20 })

	// Another pind changes the pin during the outage, then pind-0 comes
	// back.
	p1 := startPind(t, c, "pind-1", "")
	setPin(t, p1.admin(t), volSvc, "1.4", true)
	startPind(t, c, "pind-0b", addr0)
	eventually(t, "client resumes and sees the change made during the outage", func() bool { return capIs(lc.pins, volSvc, vol14) })
	eventually(t, "instances registered again", func() bool { return registered(p1, "new-0", "new-1") })

	cancel()
	<-done
	if n, bad := lc.calls.Load(), lc.fails.Load(); n == 0 || bad != 0 {
		close(lc.errs)
		for err := range lc.errs {
			t.Errorf("call failed: %v", err)
		}
		t.Fatalf("load: %d calls, %d failed; want calls and no failure", n, bad)
	}
}
