package pinsvc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// registration is one Register stream's set of instance keys.
type registration struct {
	inst     *rollpinv1.Instance // validated; service and started_at set per key
	manifest backport.Manifest
	services []string
	rev      int64 // mod revision of the keys as last written
}

// validateRegister checks a RegisterRequest and returns the registration.
func validateRegister(req *rollpinv1.RegisterRequest) (*registration, error) {
	in := req.GetInstance()
	if in == nil {
		return nil, invalid("instance is missing: send {id, manifest, build, address} and the services it serves")
	}
	if err := checkInstanceID(in.GetId()); err != nil {
		return nil, err
	}
	m, err := parseManifestField("instance.manifest", in.GetManifest())
	if err != nil {
		return nil, err
	}
	if err := checkText("instance.build", in.GetBuild(), MaxBuildLen); err != nil {
		return nil, err
	}
	if err := checkText("instance.address", in.GetAddress(), MaxAddressLen); err != nil {
		return nil, err
	}
	if req.GetStartRevision() < 0 {
		return nil, invalid("start_revision %d is negative: pass 0 for a snapshot or the last revision received", req.GetStartRevision())
	}
	svcs := req.GetServices()
	if len(svcs) == 0 {
		return nil, invalid("services is empty: list the full names of the gRPC services the instance serves")
	}
	if len(svcs) > MaxServicesPerInstance {
		return nil, invalid("%d services, the limit is %d", len(svcs), MaxServicesPerInstance)
	}
	for i, s := range svcs {
		if err := checkServiceName(fmt.Sprintf("services[%d]", i), s); err != nil {
			return nil, err
		}
	}
	svcs = slices.Clone(svcs)
	slices.Sort(svcs)
	svcs = slices.Compact(svcs)
	inst := proto.CloneOf(in)
	inst.Manifest = m.String()
	if inst.StartedAt == nil {
		inst.StartedAt = ts(time.Now())
	}
	return &registration{inst: inst, manifest: m, services: svcs}, nil
}

// fenceError explains why inst may not register under pin.
func fenceError(inst *rollpinv1.Instance, m backport.Manifest, svc string, pin backport.Manifest) error {
	below := pin.NewerThan(m)
	lowerTo := backport.Min(pin, m).Restrict(tracksOf(pin)...)
	arg := lowerTo.String()
	if own := OwnTrack(svc); lowerTo.Len() == 1 && lowerTo.Entries()[0].Track == own {
		arg = lowerTo.Entries()[0].Version.String()
	}
	var what string
	for i, e := range below {
		if i > 0 {
			what += ", "
		}
		v, _ := m.Get(e.Track)
		what += fmt.Sprintf("%s %s < %s", e.Track, v, e.Version)
	}
	return status.Errorf(codes.FailedPrecondition,
		"%v: instance %s runs %s, below the pin %s of %s (%s): senders would send it what it cannot understand; run a newer build, or roll the pin back with: pindctl pin lower %s %s",
		ErrFenced, inst.GetId(), m, pin, svc, what, svc, arg)
}

func tracksOf(m backport.Manifest) []string {
	out := make([]string, 0, m.Len())
	for _, e := range m.Entries() {
		out = append(out, e.Track)
	}
	return out
}

// register writes the instance keys of reg under the Server's lease, in one
// etcd transaction that also checks that every pin read for the fencing
// decision is unchanged. It retries when a pin moves in between. Every etcd
// call is bounded by callTimeout.
func (s *Server) register(ctx context.Context, reg *registration) (<-chan struct{}, error) {
	for attempt := 0; attempt < 20; attempt++ {
		lost, retry, err := s.registerOnce(ctx, reg)
		if err != nil || !retry {
			return lost, err
		}
	}
	return nil, status.Errorf(codes.Aborted, "pins of %v kept changing during registration: retry", reg.services)
}

// registerOnce is one attempt of register; retry reports a race to retry.
func (s *Server) registerOnce(ctx context.Context, reg *registration) (lost <-chan struct{}, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout())
	defer cancel()
	lease, lost, err := s.currentLease(ctx)
	if err != nil {
		return nil, false, err
	}
	gets := make([]clientv3.Op, len(reg.services))
	for i, svc := range reg.services {
		gets[i] = clientv3.OpGet(s.keys.pin(svc))
	}
	read, err := s.cli.Txn(ctx).Then(gets...).Commit()
	if err != nil {
		return nil, false, fmt.Errorf("pinsvc: read pins: %w", err)
	}
	cmps := make([]clientv3.Cmp, len(reg.services))
	puts := make([]clientv3.Op, len(reg.services))
	for i, svc := range reg.services {
		key := s.keys.pin(svc)
		var rev int64
		if kvs := read.Responses[i].GetResponseRange().GetKvs(); len(kvs) > 0 {
			rev = kvs[0].ModRevision
			_, pm, err := decodePin(kvs[0].Value)
			if err != nil {
				return nil, false, status.Errorf(codes.Internal, "stored pin of %s is unreadable (%v): overwrite it with pindctl pin set --force", svc, err)
			}
			if !reg.manifest.Covers(pm) {
				return nil, false, fenceError(reg.inst, reg.manifest, svc, pm)
			}
		}
		cmps[i] = clientv3.Compare(clientv3.ModRevision(key), "=", rev)
		in := proto.CloneOf(reg.inst)
		in.Service = svc
		puts[i] = clientv3.OpPut(s.keys.instance(svc, reg.inst.GetId()), marshal(in), clientv3.WithLease(lease))
	}
	if s.beforeRegisterTxn != nil {
		s.beforeRegisterTxn()
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(puts...).Commit()
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		s.dropLease(lease)
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pinsvc: write registration: %w", err)
	}
	if !resp.Succeeded {
		return nil, true, nil
	}
	reg.rev = resp.Header.Revision
	return lost, false, nil
}

// unregister deletes the keys of reg that are still the ones it wrote (an
// instance that re-registered elsewhere keeps its new keys).
func (s *Server) unregister(reg *registration) {
	if s.ctx.Err() != nil {
		return // Close revokes the lease, which deletes every key at once
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.callTimeout())
	defer cancel()
	for _, svc := range reg.services {
		key := s.keys.instance(svc, reg.inst.GetId())
		_, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", reg.rev)).
			Then(clientv3.OpDelete(key)).Commit()
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("could not delete registration: it expires with the lease", "key", key, "err", err)
		}
	}
}

// Register registers an instance for as long as the stream is open, and
// streams pin updates to it like WatchPins, scoped to what an instance uses:
// each service's pin and caps (service, pin, pin_revision, floor,
// effective_cap), without instance lists, version groups or raise status,
// and, after the first update (which already shows the registration), only
// the updates that change a pin or a cap (instance churn that moves none is
// not sent). Its keys hang on the Server's
// single lease. When that lease is lost, or the Server loses contact with
// etcd, the stream ends with UNAVAILABLE and its keys are left to the lease
// (not deleted): the instance registers again, through another pind if
// this one is cut off, before they expire, so it never leaves the floor.
func (s *Server) Register(req *rollpinv1.RegisterRequest, stream grpc.ServerStreamingServer[rollpinv1.RegisterResponse]) (err error) {
	reg, err := validateRegister(req)
	if err != nil {
		s.metrics.write("Register", err)
		return err
	}
	noContact := s.lostContact()
	select {
	case <-noContact:
		s.metrics.write("Register", errNoContact)
		return errNoContact
	default:
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	lost, err := s.register(ctx, reg)
	s.metrics.write("Register", grpcError(err))
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() == codes.FailedPrecondition {
			s.log.Warn("registration fenced", "instance", reg.inst.GetId(), "manifest", reg.manifest.String(), "err", st.Message())
		}
		return grpcError(err)
	}
	s.regs.Add(1)
	s.metrics.registrations(1)
	firstRev := reg.rev
	var leaseGone atomic.Bool
	watched := make(chan struct{})
	defer func() {
		cancel(nil)
		<-watched
		s.regs.Add(-1)
		s.metrics.registrations(-1)
		if !leaseGone.Load() {
			s.unregister(reg)
		}
	}()
	s.log.Debug("instance registered", "instance", reg.inst.GetId(), "services", reg.services, "manifest", reg.manifest.String())

	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
		case <-lost:
			leaseGone.Store(true)
			cancel(status.Error(codes.Unavailable, "pind lost its etcd registration lease: register again (this stream's keys expire with the lease)"))
		case <-noContact:
			leaseGone.Store(true)
			cancel(errNoContact)
		}
	}()

	// The first update the instance gets already shows its registration.
	s.waitRevision(ctx, firstRev)
	sent := false
	err = s.serveUpdates(ctx, req.GetStartRevision(), func(m *outMsg) error {
		if sent && !m.capMove && !m.u.GetSnapshot() {
			return nil // instance churn that moves no pin or cap: nothing an instance uses
		}
		sent = true
		return sendShared(stream, &m.regEnc, m.registerMsg())
	})
	if cause := context.Cause(ctx); cause != nil && stream.Context().Err() == nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// Registrations returns the number of open Register streams on this Server.
func (s *Server) Registrations() int { return int(s.regs.Load()) }
