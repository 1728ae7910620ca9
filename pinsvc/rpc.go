package pinsvc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// grpcError turns a store error into a status error with a precise code.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, ErrConflict):
		return refusal.Error(codes.Aborted, refusal.PinConflict, err.Error(), nil)
	case errors.Is(err, ErrFenced):
		return refusal.Error(codes.FailedPrecondition, refusal.Fenced, err.Error(), nil)
	case errors.Is(err, ErrClosed):
		return status.Error(codes.Unavailable, "pind is shutting down: retry on another pind")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Unavailable, "etcd: %v (pind keeps retrying; retry the call)", err)
}

func notFound(service string) error {
	return unknownService(service, "check the name (pindctl status lists services) or pass --force to create its pin")
}

// unknownService is the NOT_FOUND of a service with neither a pin nor live
// instances.
func unknownService(service, fix string) error {
	return refusal.Error(codes.NotFound, refusal.UnknownService, fmt.Sprintf("no service %s: %s", service, fix),
		map[string]string{refusal.KeyService: service})
}

// GetPins returns the state of every service, or of req.service
// (NOT_FOUND when it has neither a pin nor live instances).
func (s *Server) GetPins(ctx context.Context, req *rollpinv1.GetPinsRequest) (*rollpinv1.GetPinsResponse, error) {
	st := s.Snapshot()
	raise, now := s.raiseFunc(), time.Now()
	resp := &rollpinv1.GetPinsResponse{Revision: st.Revision}
	if name := req.GetService(); name != "" {
		if err := checkServiceName("service", name); err != nil {
			return nil, err
		}
		v := st.Service(name)
		if v == nil {
			return nil, unknownService(name, "check the name (pindctl status lists services)")
		}
		resp.Services = []*rollpinv1.ServiceState{v.withRaise(raise, now)}
		return resp, nil
	}
	for _, n := range st.Names() {
		resp.Services = append(resp.Services, st.Services[n].withRaise(raise, now))
	}
	return resp, nil
}

// ListInstances lists the live instances of every service, or of one.
func (s *Server) ListInstances(ctx context.Context, req *rollpinv1.ListInstancesRequest) (*rollpinv1.ListInstancesResponse, error) {
	st := s.Snapshot()
	resp := &rollpinv1.ListInstancesResponse{}
	names := st.Names()
	if name := req.GetService(); name != "" {
		if err := checkServiceName("service", name); err != nil {
			return nil, err
		}
		names = []string{name}
	}
	for _, n := range names {
		if v := st.Service(n); v != nil {
			resp.Instances = append(resp.Instances, v.Instances...)
		}
	}
	return resp, nil
}

// WatchPins streams a snapshot, then every change (see hub for the policy
// towards slow readers).
func (s *Server) WatchPins(req *rollpinv1.WatchPinsRequest, stream grpc.ServerStreamingServer[rollpinv1.WatchPinsResponse]) error {
	if req.GetStartRevision() < 0 {
		return invalid("start_revision %d is negative: pass 0 for a snapshot or the last revision received", req.GetStartRevision())
	}
	return s.serveUpdates(stream.Context(), req.GetStartRevision(), func(m *outMsg) error {
		return sendShared(stream, &m.watchEnc, m.watchMsg())
	})
}

func expected(rev int64) (int64, error) {
	if rev < 0 {
		return 0, invalid("expected_revision %d is negative: pass the pin_revision last read, or 0 to skip the check", rev)
	}
	if rev == 0 {
		return anyRevision, nil
	}
	return rev, nil
}

// raisedEntries returns the entries of next that raise cur: tracks cur does
// not cap, or caps lower.
func raisedEntries(next, cur backport.Manifest, hadPin bool) []backport.Entry {
	var out []backport.Entry
	for _, e := range next.Entries() {
		v, ok := cur.Get(e.Track)
		if !hadPin || !ok || v.Less(e.Version) {
			out = append(out, e)
		}
	}
	return out
}

// checkKnownTracks refuses a pin naming a track that no live instance of
// svc announces, that the current pin does not name and that is not the
// service's own track: most likely a typo, which would otherwise replace the
// pin and drop the tracks it named.
func checkKnownTracks(svc string, next, cur backport.Manifest, view *ServiceView) error {
	known := map[string]bool{OwnTrack(svc): true}
	for _, e := range cur.Entries() {
		known[e.Track] = true
	}
	if view != nil {
		for _, m := range view.Manifests {
			for _, e := range m.Entries() {
				known[e.Track] = true
			}
		}
	}
	var unknown []string
	for _, e := range next.Entries() {
		if !known[e.Track] {
			unknown = append(unknown, e.Track)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	names := make([]string, 0, len(known))
	for t := range known {
		if t != "" {
			names = append(names, t)
		}
	}
	slices.Sort(names)
	return refusal.Error(codes.InvalidArgument, refusal.UnknownTrack,
		fmt.Sprintf("pin of %s names %s, which no live instance announces and the pin does not name; known tracks: %s. Check the spelling, or pass --force to pin a track ahead of its instances",
			svc, strings.Join(unknown, ", "), strings.Join(names, ", ")),
		map[string]string{refusal.KeyService: svc, refusal.KeyTracks: strings.Join(unknown, ",")})
}

// blockingInstances returns the live instances of v below one of entries.
func blockingInstances(v *ServiceView, entries []backport.Entry) []*rollpinv1.Instance {
	if v == nil || len(entries) == 0 {
		return nil
	}
	var out []*rollpinv1.Instance
	for i, m := range v.Manifests {
		for _, e := range entries {
			if iv, ok := m.Get(e.Track); ok && iv.Less(e.Version) {
				out = append(out, v.Instances[i])
				break
			}
		}
	}
	return out
}

func describeInstances(insts []*rollpinv1.Instance) string {
	var b strings.Builder
	for i, in := range insts {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(insts)-10)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", in.GetId(), in.GetManifest())
	}
	return b.String()
}

// SetPin raises or lowers a pin; see the PinService contract.
func (s *Server) SetPin(ctx context.Context, req *rollpinv1.SetPinRequest) (resp *rollpinv1.SetPinResponse, err error) {
	defer func() { s.metrics.write("SetPin", err) }()
	by, err := s.authorize(ctx)
	if err != nil {
		return nil, err
	}
	svc := req.GetService()
	if err := checkServiceName("service", svc); err != nil {
		return nil, err
	}
	if err := checkText("reason", req.GetReason(), MaxReasonLen); err != nil {
		return nil, err
	}
	if len(req.GetManifest()) > MaxManifestLen {
		return nil, invalid("manifest is %d bytes long, the limit is %d", len(req.GetManifest()), MaxManifestLen)
	}
	exp, err := expected(req.GetExpectedRevision())
	if err != nil {
		return nil, err
	}
	if _, err := resolvePinText(svc, req.GetManifest(), backport.Manifest{}); err != nil {
		return nil, err
	}
	resp = &rollpinv1.SetPinResponse{}
	var wouldBe *rollpinv1.Pin
	var wouldRev int64
	rev, written, err := s.updatePin(ctx, svc, exp, func(cur *rollpinv1.Pin, rev int64, st *State) (*rollpinv1.Pin, error) {
		resp.Blocking, resp.Changed, wouldBe, wouldRev = nil, false, nil, rev
		view := st.Service(svc)
		var curMan backport.Manifest
		if cur != nil {
			m, err := backport.ParseManifest(cur.GetManifest())
			if err != nil {
				return nil, status.Errorf(codes.Internal, "stored pin of %s is unreadable (%v): overwrite it with pindctl pin set --force", svc, err)
			}
			curMan = m
		}
		hasInstances := view != nil && len(view.Instances) > 0
		if cur == nil && !hasInstances && !req.GetForce() {
			return nil, notFound(svc)
		}
		next, err := resolvePinText(svc, req.GetManifest(), curMan)
		if err != nil {
			return nil, err
		}
		if !req.GetForce() {
			if err := checkKnownTracks(svc, next, curMan, view); err != nil {
				return nil, err
			}
		}
		if err := s.checkContracts(ctx, svc, curMan, next, req.GetForcePastContract()); err != nil {
			return nil, err
		}
		resp.Blocking = blockingInstances(view, raisedEntries(next, curMan, cur != nil))
		if len(resp.Blocking) > 0 && !req.GetForce() && !req.GetDryRun() {
			return nil, refusal.Error(codes.FailedPrecondition, refusal.PinAboveFloor,
				fmt.Sprintf("pin %s of %s is above the floor %s: live instances %s run older versions; wait until they are replaced (pindctl status) or pass --force",
					next, svc, view.Floor, describeInstances(resp.Blocking)),
				map[string]string{refusal.KeyService: svc, refusal.KeyPin: next.String()})
		}
		if cur != nil && next.Equal(curMan) {
			resp.Message = fmt.Sprintf("pin of %s is already %s: nothing to do", svc, next)
			wouldBe = cur
			return nil, nil
		}
		p := cur
		if p == nil {
			p = &rollpinv1.Pin{Mode: rollpinv1.PinMode_PIN_MODE_AUTO}
		}
		p.Manifest = next.String()
		p.UpdatedBy = by
		p.UpdatedAt = ts(time.Now())
		p.Reason = req.GetReason()
		resp.Changed = true
		wouldBe = p
		lowered := cur != nil && len(curMan.NewerThan(next)) > 0
		switch {
		case req.GetDryRun():
			resp.Message = fmt.Sprintf("dry run: pin of %s would be %s", svc, next)
			if len(resp.Blocking) > 0 {
				resp.Message += fmt.Sprintf("; blocked by %s (needs --force)", describeInstances(resp.Blocking))
			}
			return nil, nil
		case lowered:
			s.log.Warn("pin lowered", "service", svc, "from", curMan.String(), "to", next.String(), "by", by, "reason", req.GetReason(), "force", req.GetForce())
			resp.Message = fmt.Sprintf("pin of %s lowered from %s to %s", svc, curMan, next)
			if req.GetHoldOnLower() {
				resp.Message += holdOnLower(p, by, req.GetReason(), curMan.String(), next.String(), time.Now())
			}
		default:
			s.log.Info("pin set", "service", svc, "from", curMan.String(), "to", next.String(), "by", by, "reason", req.GetReason(), "force", req.GetForce())
			resp.Message = fmt.Sprintf("pin of %s set to %s", svc, next)
		}
		return p, nil
	})
	if err != nil {
		return nil, grpcError(err)
	}
	if req.GetDryRun() || !resp.Changed {
		resp.State = s.stateWith(svc, wouldBe, wouldRev)
		return resp, nil
	}
	resp.State = s.stateAfter(ctx, svc, written, rev)
	return resp, nil
}

// stateAfter returns the ServiceState of svc once this Server's watch has
// seen revision rev (or, if the watch lags, as the write made it).
func (s *Server) stateAfter(ctx context.Context, svc string, pin *rollpinv1.Pin, rev int64) *rollpinv1.ServiceState {
	if st := s.waitRevision(ctx, rev); st != nil {
		if v := st.Service(svc); v != nil && v.PinRevision >= rev {
			return v.withRaise(s.raiseFunc(), time.Now())
		}
	}
	return s.stateWith(svc, pin, rev)
}

// stateWith returns the ServiceState of svc with pin at rev and the live
// instances this Server knows.
func (s *Server) stateWith(svc string, pin *rollpinv1.Pin, rev int64) *rollpinv1.ServiceState {
	var m backport.Manifest
	if pin != nil {
		m, _ = backport.ParseManifest(pin.GetManifest())
	} else {
		rev = 0
	}
	insts := map[string]instanceOf{}
	changed := time.Now()
	if v := s.Snapshot().Service(svc); v != nil {
		for i, in := range v.Instances {
			insts[in.GetId()] = instanceOf{inst: in, manifest: v.Manifests[i]}
		}
		changed = v.InstancesChangedAt
	}
	return buildView(svc, pin, m, rev, insts, changed, s.raiseFunc()).Proto()
}

// modifyPin is the write path of Hold, Release and SetMode: fn changes the
// pin (never nil). A service with live instances but no pin gets one at its
// floor, in AUTO mode; a service with neither is NOT_FOUND.
func (s *Server) modifyPin(ctx context.Context, rpc, svc string, expectedRev int64, fn func(p *rollpinv1.Pin, by string) (changed bool, err error)) (st *rollpinv1.ServiceState, err error) {
	defer func() { s.metrics.write(rpc, err) }()
	by, err := s.authorize(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkServiceName("service", svc); err != nil {
		return nil, err
	}
	exp, err := expected(expectedRev)
	if err != nil {
		return nil, err
	}
	rev, written, err := s.updatePin(ctx, svc, exp, func(cur *rollpinv1.Pin, _ int64, st *State) (*rollpinv1.Pin, error) {
		if cur == nil {
			v := st.Service(svc)
			if v == nil || len(v.Instances) == 0 {
				return nil, unknownService(svc, "check the name (pindctl status lists services) or create its pin first (pindctl pin set --force)")
			}
			cur = &rollpinv1.Pin{Mode: rollpinv1.PinMode_PIN_MODE_AUTO, Manifest: v.Floor.String()}
		}
		changed, err := fn(cur, by)
		if err != nil || !changed {
			return nil, err
		}
		cur.UpdatedBy = by
		cur.UpdatedAt = ts(time.Now())
		return cur, nil
	})
	if err != nil {
		return nil, grpcError(err)
	}
	return s.stateAfter(ctx, svc, written, rev), nil
}

// Hold freezes the automatic raise of a pin.
func (s *Server) Hold(ctx context.Context, req *rollpinv1.HoldRequest) (*rollpinv1.HoldResponse, error) {
	if req.GetReason() == "" {
		s.metrics.write("Hold", status.Error(codes.InvalidArgument, ""))
		return nil, invalid("reason is required: say why the pin is held (pindctl hold <service> --reason ...)")
	}
	if err := checkText("reason", req.GetReason(), MaxReasonLen); err != nil {
		s.metrics.write("Hold", err)
		return nil, err
	}
	st, err := s.modifyPin(ctx, "Hold", req.GetService(), req.GetExpectedRevision(), func(p *rollpinv1.Pin, by string) (bool, error) {
		p.Hold = &rollpinv1.PinHold{Reason: req.GetReason(), By: by, At: ts(time.Now())}
		p.Reason = "hold: " + req.GetReason()
		s.log.Info("pin held", "service", req.GetService(), "by", by, "reason", req.GetReason())
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &rollpinv1.HoldResponse{State: st}, nil
}

// Release removes a hold (a pin without a hold is left unchanged).
func (s *Server) Release(ctx context.Context, req *rollpinv1.ReleaseRequest) (*rollpinv1.ReleaseResponse, error) {
	st, err := s.modifyPin(ctx, "Release", req.GetService(), req.GetExpectedRevision(), func(p *rollpinv1.Pin, by string) (bool, error) {
		if p.GetHold() == nil {
			return false, nil
		}
		p.Hold = nil
		p.Reason = "release"
		s.log.Info("pin released", "service", req.GetService(), "by", by)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &rollpinv1.ReleaseResponse{State: st}, nil
}

// SetMode switches a pin between AUTO and MANUAL.
func (s *Server) SetMode(ctx context.Context, req *rollpinv1.SetModeRequest) (*rollpinv1.SetModeResponse, error) {
	mode := req.GetMode()
	if mode != rollpinv1.PinMode_PIN_MODE_AUTO && mode != rollpinv1.PinMode_PIN_MODE_MANUAL {
		s.metrics.write("SetMode", status.Error(codes.InvalidArgument, ""))
		return nil, invalid("mode %v is not valid: use PIN_MODE_AUTO or PIN_MODE_MANUAL", mode)
	}
	st, err := s.modifyPin(ctx, "SetMode", req.GetService(), req.GetExpectedRevision(), func(p *rollpinv1.Pin, by string) (bool, error) {
		if p.GetMode() == mode {
			return false, nil
		}
		p.Mode = mode
		p.Reason = "mode " + mode.String()
		s.log.Info("pin mode set", "service", req.GetService(), "mode", mode.String(), "by", by)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &rollpinv1.SetModeResponse{State: st}, nil
}
