package pinsvc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// registration is one Register stream's set of instance keys.
type registration struct {
	inst     *rollpinv1.Instance // validated; service and started_at set per key
	manifest backport.Manifest
	services []string
	rev      int64 // mod revision of the keys as last written
}

// MaxClaimLen is the longest RegisterRequest.claim pind accepts.
const MaxClaimLen = 64

// claimDigest returns the hex SHA-256 of a registration's claim, "" for none.
func claimDigest(claim []byte) string {
	if len(claim) == 0 {
		return ""
	}
	sum := sha256.Sum256(claim)
	return hex.EncodeToString(sum[:])
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
	if len(req.GetClaim()) > MaxClaimLen {
		return nil, invalid("claim is %d bytes, at most %d: send 16 to %d random bytes picked once per process", len(req.GetClaim()), MaxClaimLen, MaxClaimLen)
	}
	if req.GetStartRevision() < 0 {
		return nil, invalid("start_revision %d is negative: pass 0 for a snapshot or the last revision received", req.GetStartRevision())
	}
	if in.StartedAt != nil {
		if err := in.GetStartedAt().CheckValid(); err != nil {
			return nil, invalid("instance.started_at: %v; send the time the process started, or leave it unset", err)
		}
	}
	svcs := req.GetServices()
	if len(svcs) == 0 {
		return nil, invalid("services is empty: list the full names of the gRPC services the instance serves")
	}
	if len(svcs) > MaxServicesPerInstance {
		return nil, tooManyServices(len(svcs))
	}
	var missing []string
	for i, s := range svcs {
		if err := checkServiceName(fmt.Sprintf("services[%d]", i), s); err != nil {
			return nil, err
		}
		if t := OwnTrack(s); t != "" {
			if _, ok := m.Get(t); !ok && !slices.Contains(missing, t) {
				missing = append(missing, t)
			}
		}
	}
	if m.IsEmpty() {
		return nil, invalid("instance.manifest is empty: send the instance's own manifest (backport.OwnManifest()), which names the track of every service it registers")
	}
	if len(missing) > 0 {
		return nil, invalid("instance.manifest %s does not name the track of every service it registers (missing %s): an instance announces the version it speaks of each service it serves", m, strings.Join(missing, ", "))
	}
	svcs = slices.Clone(svcs)
	slices.Sort(svcs)
	svcs = slices.Compact(svcs)
	inst := proto.CloneOf(in)
	inst.Manifest = m.String()
	inst.ClaimDigest = claimDigest(req.GetClaim())
	if inst.StartedAt == nil {
		inst.StartedAt = ts(time.Now())
	}
	return &registration{inst: inst, manifest: m, services: svcs}, nil
}

// tooManyServices refuses a registration no etcd transaction can hold.
func tooManyServices(n int) error {
	return refusal.Error(codes.InvalidArgument, refusal.TooManyServices,
		fmt.Sprintf("%d services in one registration, the limit is %d (one etcd transaction): register the instance's services in several registrations under distinct ids", n, MaxServicesPerInstance),
		map[string]string{refusal.KeyLimit: strconv.Itoa(MaxServicesPerInstance)})
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
	return refusal.Error(codes.FailedPrecondition, refusal.Fenced,
		fmt.Sprintf("%v: instance %s runs %s, below the pin %s of %s (%s): senders would send it what it cannot understand; run a newer build, or roll the pin back with: pindctl pin lower %s %s",
			ErrFenced, inst.GetId(), m, pin, svc, what, svc, arg),
		map[string]string{refusal.KeyService: svc, refusal.KeyInstance: inst.GetId(), refusal.KeyPin: pin.String()})
}

// floorFenceError explains why inst may not register svc although the pin
// does not name the service's own track yet: live instances speak a newer
// version of it, and senders already use it.
func floorFenceError(inst *rollpinv1.Instance, svc, track string, v, floor backport.Version, pin backport.Manifest) error {
	return refusal.Error(codes.FailedPrecondition, refusal.Fenced,
		fmt.Sprintf("%v: instance %s runs %s=%s, below the live instances of %s (%s=%s); the pin %s does not name %s yet, so senders follow the live instances: run a newer build, or roll back first with: pindctl pin set %s %s=%s --force",
			ErrFenced, inst.GetId(), track, v, svc, track, floor, pin, track, svc, track, v),
		map[string]string{refusal.KeyService: svc, refusal.KeyInstance: inst.GetId(), refusal.KeyPin: pin.String(), refusal.KeyTracks: track})
}

// idTakenError refuses a claim of an instance ID another stream holds.
func idTakenError(svc string, holder *rollpinv1.Instance) error {
	since := holder.GetStartedAt().AsTime().UTC().Format(time.RFC3339)
	pind := holder.GetPind()
	if pind == "" {
		pind = "an unknown pind"
	}
	return refusal.Error(codes.AlreadyExists, refusal.InstanceIDTaken,
		fmt.Sprintf("instance id %s of %s is held by a live registration through pind %s since %s: give every instance a unique id; a restarted instance gets its id back once the old registration ends (its lease expires within the lease TTL)",
			holder.GetId(), svc, pind, since),
		map[string]string{refusal.KeyService: svc, refusal.KeyInstance: holder.GetId(), refusal.KeyHolder: pind, refusal.KeyHolderSince: since})
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
// decision is unchanged and that every instance key is still absent or
// still the one this registration wrote (an instance ID belongs to the
// stream that created it until its lease ends). It retries when a pin or a
// key moves in between. Every etcd call is bounded by callTimeout.
func (s *Server) register(ctx context.Context, reg *registration) (context.Context, error) {
	for attempt := 0; attempt < 20; attempt++ {
		lost, retry, err := s.registerOnce(ctx, reg)
		if err != nil || !retry {
			return lost, err
		}
	}
	return nil, refusal.Error(codes.Aborted, refusal.PinConflict,
		fmt.Sprintf("pins of %v kept changing during registration: retry", reg.services), nil)
}

// registerEtcdError turns an etcd error of a registration into a status:
// etcd refusing the transaction's size can never succeed on retry.
func registerEtcdError(what string, err error) error {
	if errors.Is(err, rpctypes.ErrTooManyOps) {
		return refusal.Error(codes.InvalidArgument, refusal.TooManyServices,
			fmt.Sprintf("etcd refused the registration transaction (%v): etcd's --max-txn-ops is below what %d services need; register fewer services per instance id or raise --max-txn-ops", err, MaxServicesPerInstance),
			map[string]string{refusal.KeyLimit: strconv.Itoa(MaxServicesPerInstance)})
	}
	return fmt.Errorf("pinsvc: %s: %w", what, err)
}

// fenceUnpinnedTrack fences reg for svc on the service's own track when the
// pin does not name it yet: the instance may not be below the live instances
// of svc on that track, whose version senders already speak.
func (s *Server) fenceUnpinnedTrack(ctx context.Context, reg *registration, svc string, pin backport.Manifest) error {
	track := OwnTrack(svc)
	if track == "" {
		return nil
	}
	if _, named := pin.Get(track); named {
		return nil
	}
	mine, ok := reg.manifest.Get(track)
	if !ok {
		return nil
	}
	resp, err := s.cli.Get(ctx, s.keys.instances()+svc+"/", clientv3.WithPrefix())
	if err != nil {
		return registerEtcdError("read instances", err)
	}
	var floor backport.Version
	found := false
	for _, kv := range resp.Kvs {
		in := &rollpinv1.Instance{}
		if proto.Unmarshal(kv.Value, in) != nil || in.GetId() == reg.inst.GetId() {
			continue
		}
		m, err := backport.ParseManifest(in.GetManifest())
		if err != nil {
			continue
		}
		if v, ok := m.Get(track); ok && (!found || v.Less(floor)) {
			floor, found = v, true
		}
	}
	if found && mine.Less(floor) {
		return floorFenceError(reg.inst, svc, track, mine, floor, pin)
	}
	return nil
}

// registerOnce is one attempt of register; retry reports a race to retry.
func (s *Server) registerOnce(ctx context.Context, reg *registration) (lost context.Context, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout())
	defer cancel()
	lease, lost, err := s.currentLease(ctx)
	if err != nil {
		return nil, false, err
	}
	n := len(reg.services)
	gets := make([]clientv3.Op, 0, 2*n)
	for _, svc := range reg.services {
		gets = append(gets, clientv3.OpGet(s.keys.pin(svc)), clientv3.OpGet(s.keys.instance(svc, reg.inst.GetId())))
	}
	gets = append(gets, clientv3.OpGet(s.keys.contracts(), clientv3.WithPrefix()))
	read, err := s.cli.Txn(ctx).Then(gets...).Commit()
	if err != nil {
		return nil, false, registerEtcdError("read pins", err)
	}
	marks, _ := s.decodeContracts(read.Responses[2*n].GetResponseRange().GetKvs())
	if err := s.fenceContracts(reg, marks); err != nil {
		return nil, false, err
	}
	// A contract mark written after this read fails the transaction (and
	// the check runs again with it).
	cmps := make([]clientv3.Cmp, 0, 2*n+1)
	cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.keys.contracts()), "<", read.Header.Revision+1).WithPrefix())
	puts := make([]clientv3.Op, n)
	for i, svc := range reg.services {
		key := s.keys.pin(svc)
		var rev int64
		if kvs := read.Responses[2*i].GetResponseRange().GetKvs(); len(kvs) > 0 {
			rev = kvs[0].ModRevision
			_, pm, err := decodePin(kvs[0].Value)
			if err != nil {
				return nil, false, status.Errorf(codes.Internal, "stored pin of %s is unreadable (%v): overwrite it with pindctl pin set --force", svc, err)
			}
			if !reg.manifest.Covers(pm) {
				return nil, false, fenceError(reg.inst, reg.manifest, svc, pm)
			}
			if err := s.fenceUnpinnedTrack(ctx, reg, svc, pm); err != nil {
				return nil, false, err
			}
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", rev))
		ikey := s.keys.instance(svc, reg.inst.GetId())
		if kvs := read.Responses[2*i+1].GetResponseRange().GetKvs(); len(kvs) > 0 {
			if reg.rev == 0 || kvs[0].ModRevision != reg.rev {
				holder := &rollpinv1.Instance{}
				if err := proto.Unmarshal(kvs[0].Value, holder); err != nil || holder.GetId() == "" {
					holder = &rollpinv1.Instance{Id: reg.inst.GetId()}
				}
				// The same process (same claim) takes its keys over, e.g.
				// from a pind cut off from etcd; anyone else is refused.
				if d := reg.inst.GetClaimDigest(); d == "" || holder.GetClaimDigest() != d {
					return nil, false, idTakenError(svc, holder)
				}
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(ikey), "=", kvs[0].ModRevision))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(ikey), "=", 0))
		}
		in := proto.CloneOf(reg.inst)
		in.Service = svc
		in.Pind = s.cfg.Name
		puts[i] = clientv3.OpPut(ikey, marshal(in), clientv3.WithLease(lease))
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
		return nil, false, registerEtcdError("write registration", err)
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
	if err == nil {
		err = s.authorizeRegister(stream.Context(), reg.services)
	}
	if err != nil {
		s.metrics.write("Register", err)
		return err
	}
	noContact := s.lostContact()
	if noContact.Err() != nil {
		s.metrics.write("Register", errNoContact)
		return errNoContact
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	// The registration's etcd calls run on their own goroutine, whose deep
	// stack is freed when they return: the stream's goroutine then waits,
	// for as long as the instance lives, on a small stack (thousands of
	// streams wait at once).
	var lost context.Context
	registered := make(chan struct{})
	go func() {
		defer close(registered)
		lost, err = s.register(ctx, reg)
	}()
	<-registered
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
	// Losing the lease or etcd ends the stream and leaves its keys to the
	// lease. The callbacks run without a goroutine per stream until then.
	var leaseGone atomic.Bool
	endOn := func(sig context.Context, cause error) (wait func()) {
		done := make(chan struct{})
		stop := context.AfterFunc(sig, func() {
			defer close(done)
			leaseGone.Store(true)
			cancel(cause)
		})
		return func() {
			if !stop() {
				<-done
			}
		}
	}
	waitLost := endOn(lost, status.Error(codes.Unavailable, "pind lost its etcd registration lease: register again (this stream's keys expire with the lease)"))
	waitNoContact := endOn(noContact, errNoContact)
	defer func() {
		cancel(nil)
		waitLost()
		waitNoContact()
		s.regs.Add(-1)
		s.metrics.registrations(-1)
		if !leaseGone.Load() {
			s.unregister(reg)
		}
		s.log.Info("instance left", "instance", reg.inst.GetId(), "manifest", reg.inst.GetManifest(), "services", reg.services, "registered_for", time.Since(reg.inst.GetStartedAt().AsTime()).Round(time.Millisecond).String())
	}()
	s.log.Info("instance joined", "instance", reg.inst.GetId(), "services", reg.services, "manifest", reg.manifest.String())

	// The first update the instance gets already shows its registration.
	s.waitRevision(ctx, firstRev)
	sent := false
	err = s.serveUpdates(ctx, req.GetStartRevision(), func(m *outMsg) error {
		if sent && !m.capMove && !m.snapshot {
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
