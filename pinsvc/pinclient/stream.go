package pinclient

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// updateStream is what Register and WatchPins streams have in common.
type updateStream interface {
	recv() (*rollpinv1.PinUpdate, error)
}

type watchStream struct {
	grpc.ServerStreamingClient[rollpinv1.WatchPinsResponse]
}

func (w watchStream) recv() (*rollpinv1.PinUpdate, error) {
	r, err := w.Recv()
	return r.GetUpdate(), err
}

type registerStream struct {
	grpc.ServerStreamingClient[rollpinv1.RegisterResponse]
}

func (w registerStream) recv() (*rollpinv1.PinUpdate, error) {
	r, err := w.Recv()
	return r.GetUpdate(), err
}

// maxBatch bounds how many received updates are applied as one.
const maxBatch = 256

// open opens a Register (register) or WatchPins stream on endpoint ep,
// resuming after the last revision received from pind.
func (c *Client) open(ctx context.Context, ep int, register bool) (updateStream, error) {
	pc := rollpinv1.NewPinServiceClient(c.conns[ep])
	var start int64
	if s := c.snap.Load(); s != nil && s.synced {
		start = s.rev
	}
	if !register {
		s, err := pc.WatchPins(ctx, &rollpinv1.WatchPinsRequest{StartRevision: start})
		return watchStream{s}, err
	}
	r := c.o.reg
	s, err := pc.Register(ctx, &rollpinv1.RegisterRequest{
		Instance: &rollpinv1.Instance{
			Id:        r.ID,
			Manifest:  r.Manifest.String(),
			Build:     r.Build,
			Address:   r.Address,
			StartedAt: timestamppb.New(c.startedAt),
		},
		Services:      r.Services,
		StartRevision: start,
		Claim:         c.claim[:],
	})
	return registerStream{s}, err
}

// stream runs one stream on endpoint ep until it fails or Close. progressed
// reports whether it delivered at least one update. A watch held while the
// registration is refused ends with errReadmit once what refused it has
// changed (*state is then regActive again).
func (c *Client) stream(ep int, register bool, state *regState, o *outage) (progressed bool, err error) {
	ctx, cancelCause := context.WithCancelCause(c.ctx)
	cancel := func() { cancelCause(nil) }
	defer cancel()
	st, err := c.open(ctx, ep, register)
	if err != nil {
		return false, err
	}
	if c.o.probeEvery > 0 {
		probeDone := make(chan struct{})
		go func() {
			defer close(probeDone)
			if err := c.probe(ctx, ep); err != nil {
				cancelCause(err)
			}
		}()
		defer func() {
			cancel()
			<-probeDone
		}()
	}
	// A reader goroutine feeds the updates; this loop applies every update
	// already received as one batch, so that a burst (a fleet registering)
	// costs one snapshot copy, not one per update.
	ups := make(chan *rollpinv1.PinUpdate, maxBatch)
	errc := make(chan error, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(ups)
		for {
			u, err := st.recv()
			if err != nil {
				errc <- err
				return
			}
			if u == nil {
				continue
			}
			select {
			case ups <- u:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-readerDone
	}()
	batch := make([]*rollpinv1.PinUpdate, 0, maxBatch)
	for {
		u, ok := <-ups
		if !ok {
			err := <-errc
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				err = cause // the liveness probe ended the stream
			}
			return progressed, err
		}
		batch = append(batch[:0], u)
	drain:
		for len(batch) < maxBatch {
			select {
			case u, ok := <-ups:
				if !ok {
					break drain
				}
				batch = append(batch, u)
			default:
				break drain
			}
		}
		if !progressed {
			progressed = true
			if register {
				c.setErr(nil) // registered: an earlier refusal no longer holds
			}
			c.connected(o, c.endpoints[ep], register)
		}
		c.applyUpdates(batch)
		if (*state == regFenced && c.admissible()) || (*state == regIDTaken && c.idFree()) {
			*state = regActive
			return progressed, errReadmit
		}
	}
}

// errPindSilent ends a stream whose pind no longer answers.
var errPindSilent = status.Error(codes.Unavailable, "pinclient: pind stopped answering its health check: moving to another pind")

// probe checks every probeEvery, with the gRPC health service of endpoint
// ep, that the pind answers and serves, until ctx ends. It returns an error
// (UNAVAILABLE) when a check fails or goes unanswered for probeWait, and nil
// when ctx ends or the pind has no health service.
func (c *Client) probe(ctx context.Context, ep int) error {
	hc := healthpb.NewHealthClient(c.conns[ep])
	t := time.NewTicker(c.o.probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, c.o.probeWait)
		resp, err := hc.Check(pctx, &healthpb.HealthCheckRequest{Service: rollpinv1.PinService_ServiceDesc.ServiceName})
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case status.Code(err) == codes.Unimplemented || status.Code(err) == codes.NotFound:
			return nil // no health service for it: nothing to probe
		case err != nil:
			c.o.logger.Warn("pinclient: pind does not answer its health check; moving to another pind", "endpoint", c.endpoints[ep], "err", err)
			return errPindSilent
		case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
			c.o.logger.Warn("pinclient: pind reports itself not serving; moving to another pind", "endpoint", c.endpoints[ep], "status", resp.GetStatus().String())
			return errPindSilent
		}
	}
}

// admissible reports whether the current pins would let the registered
// manifest in: it covers the pin of every service it serves.
func (c *Client) admissible() bool {
	s := c.snap.Load()
	if s == nil || !s.synced {
		return false
	}
	for _, svc := range c.o.reg.Services {
		st, ok := s.states[svc]
		if !ok || st.GetPin() == nil {
			continue
		}
		pin, err := backport.ParseManifest(st.GetPin().GetManifest())
		if err != nil || !c.o.reg.Manifest.Covers(pin) {
			return false
		}
	}
	return true
}

// idFree reports whether no live instance of the registered services holds
// the registration's ID any more.
func (c *Client) idFree() bool {
	s := c.snap.Load()
	if s == nil || !s.synced {
		return false
	}
	for _, svc := range c.o.reg.Services {
		for _, in := range s.states[svc].GetInstances() {
			if in.GetId() == c.o.reg.ID {
				return false
			}
		}
	}
	return true
}

// applyUpdates makes the batch the current snapshot and asks the snapshot
// file writer (if any) to save it.
func (c *Client) applyUpdates(us []*rollpinv1.PinUpdate) {
	next := c.snap.Load()
	if next != nil && !next.synced {
		next = nil // a snapshot from the file is replaced, never merged
	}
	next = next.apply(us, c.o.logger)
	c.snap.Store(next)
	c.syncOnce.Do(func() { close(c.synced) })
	c.o.metrics.Applied(len(us), next.rev)
	if c.o.snapFile != "" {
		select {
		case c.saveCh <- struct{}{}:
		default: // a save is already pending; it will take this snapshot
		}
	}
	if c.o.onUpdate != nil {
		c.o.onUpdate(next)
	}
}

// saveLoop writes the snapshot file from its own goroutine: the latest
// snapshot, at most once per SnapshotFileInterval, and once more at Close.
func (c *Client) saveLoop() {
	defer c.wg.Done()
	var saved *Snapshot
	write := func() {
		s := c.snap.Load()
		if s == nil || !s.synced || s == saved {
			return
		}
		err := c.save(c.o.snapFile, s)
		c.o.metrics.SnapshotSaved(err)
		if err != nil {
			c.o.logger.Warn("pinclient: could not persist the pin snapshot", "file", c.o.snapFile, "err", err)
			return
		}
		saved = s
	}
	for {
		select {
		case <-c.ctx.Done():
			write()
			return
		case <-c.saveCh:
		}
		write()
		t := time.NewTimer(SnapshotFileInterval)
		select {
		case <-c.ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}
