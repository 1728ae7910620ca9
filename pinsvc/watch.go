package pinsvc

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// hub holds the published state, the bounded history of updates and the
// subscribers.
//
// Fan-out policy (after grpc-go's health server): publishing never blocks.
// Each subscriber owns a notification channel of capacity 1 and a cursor
// (the last revision it sent). Publishing appends the update to the history
// and pokes every channel without blocking; each subscriber's goroutine then
// sends, at its own pace, what happened after its cursor:
//
//   - one update behind, that update;
//   - a few updates behind, the pending updates merged into one message per
//     run ending at a change of a pin or an effective cap: instance churn
//     that moves no cap is coalesced (so a registration storm costs each
//     subscriber a message per wake-up, not one per registration), while
//     every pin value still reaches every subscriber;
//   - more than mergeBacklog updates behind, one message merging them all:
//     the latest state of every changed service (intermediate states are
//     skipped, as the health server keeps only the latest status for a slow
//     watcher; the end state is the same);
//   - behind the history (more than Config.HistorySize updates or
//     Config.HistoryBytes of them, or a resume from a revision the history
//     never held, e.g. compacted), a fresh full snapshot.
//
// Pin and cap changes wake every subscriber at once; instance churn that
// moves no cap wakes them at most once per churnDelay (100ms), so a
// registration storm costs each stream a few wake-ups a second rather than
// one per registration. Subscribers that are equally behind share one merged
// message (and its encoding). So one slow stream never holds back the others, and the
// server's memory is bounded whatever the subscribers do.
type hub struct {
	cur atomic.Pointer[State]

	mu        sync.RWMutex
	hist      []*outMsg // ascending revisions; entries are never modified
	histBytes int       // sum of the estimated encoded sizes of hist
	base      int64     // history holds every update after base
	histSize  int
	maxBytes  int

	subsMu sync.Mutex
	subs   map[chan struct{}]bool // value: eager

	churnPending atomic.Bool // a deferred notify is scheduled

	mergedMu sync.Mutex
	merged   map[[2]int64]*outMsg // merges of (after, through] revisions
}

// mergeBacklog is how many pending updates a subscriber sends one by one
// before it merges the rest.
const mergeBacklog = 16

// reset publishes st as a new starting point: the history is cleared, so
// every subscriber behind st resynchronises with a snapshot.
func (h *hub) reset(st *State) {
	h.mu.Lock()
	h.hist, h.histBytes = nil, 0
	h.base = st.Revision
	h.cur.Store(st)
	h.mu.Unlock()
	h.notify()
}

// publish appends m (whose revision is st.Revision) and publishes st.
func (h *hub) publish(st *State, m *outMsg) {
	capMove := m.capMove
	h.mu.Lock()
	h.hist = append(h.hist, m)
	h.histBytes += m.size
	if len(h.hist) > 2*h.histSize || h.histBytes > 2*h.maxBytes {
		// Trim to the limits (amortised: at most once per limit's worth).
		// The newest update always stays, however large: it is what the
		// subscribers have yet to send.
		drop := 0
		for drop < len(h.hist)-1 && (len(h.hist)-drop > h.histSize || h.histBytes > h.maxBytes) {
			h.histBytes -= h.hist[drop].size
			drop++
		}
		if drop > 0 {
			h.base = h.hist[drop-1].rev
			h.hist = slices.Clone(h.hist[drop:])
		}
	}
	h.cur.Store(st)
	h.mu.Unlock()
	if capMove {
		h.notify()
		return
	}
	// Instance churn that moves no cap: wake the streams at most once per
	// churnDelay, however fast instances come and go.
	h.notifyEager()
	if h.churnPending.CompareAndSwap(false, true) {
		time.AfterFunc(churnDelay, func() {
			h.churnPending.Store(false)
			h.notify()
		})
	}
}

// churnDelay is how long streams may lag behind instance churn that moves no
// cap (pin and cap changes reach them at once).
const churnDelay = 100 * time.Millisecond

// notify pokes every subscriber.
func (h *hub) notify() {
	h.subsMu.Lock()
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	h.subsMu.Unlock()
}

// notifyEager pokes the subscribers that want every change at once.
func (h *hub) notifyEager() {
	h.subsMu.Lock()
	for ch, eager := range h.subs {
		if !eager {
			continue
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	h.subsMu.Unlock()
}

// next returns the updates after cursor, or (when the history no longer
// reaches back to cursor) the current state to send as a snapshot.
func (h *hub) next(cursor int64) ([]*outMsg, *State) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if cursor < h.base {
		return nil, h.cur.Load()
	}
	i, _ := slices.BinarySearchFunc(h.hist, cursor, func(m *outMsg, r int64) int {
		switch {
		case m.rev <= r:
			return -1
		default:
			return 1
		}
	})
	if i == len(h.hist) {
		return nil, nil
	}
	// Appends never write below len and trims copy: the caller may keep the
	// sub-slice without holding the lock.
	return h.hist[i:len(h.hist):len(h.hist)], nil
}

// subscribe returns a channel poked after publications: every one at once
// when eager, else pin and cap changes at once and instance churn within
// churnDelay.
func (h *hub) subscribe(eager bool) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.subsMu.Lock()
	if h.subs == nil {
		h.subs = map[chan struct{}]bool{}
	}
	h.subs[ch] = eager
	h.subsMu.Unlock()
	return ch, func() {
		h.subsMu.Lock()
		delete(h.subs, ch)
		h.subsMu.Unlock()
	}
}

// outMsg is one update (the services it changed and those it removed) and
// the stream messages that carry it, each built once, on first use, and
// shared (read-only) by every subscriber.
type outMsg struct {
	rev      int64
	snapshot bool
	views    []*ServiceView // the changed services, by name
	removed  []string       // sorted
	capMove  bool           // a pin or an effective cap changed (or a service came or went)
	size     int            // estimated encoded size of the update (see sized)

	watchOnce sync.Once
	u         *rollpinv1.PinUpdate
	watch     *rollpinv1.WatchPinsResponse
	watchEnc  sharedEncoding

	pinsOnce sync.Once
	pins     *rollpinv1.RegisterResponse
	regEnc   sharedEncoding
}

// sized sets m.size from its views' estimates and returns m.
func (m *outMsg) sized() *outMsg {
	m.size = 16
	for _, v := range m.views {
		m.size += v.size
	}
	for _, r := range m.removed {
		m.size += len(r) + 2
	}
	return m
}

// update returns the PinUpdate m carries, with every changed service in
// full (instances, version groups, raise status): what WatchPins sends.
func (m *outMsg) update() *rollpinv1.PinUpdate {
	m.watchOnce.Do(func() {
		u := &rollpinv1.PinUpdate{Revision: m.rev, Snapshot: m.snapshot, Removed: m.removed}
		u.Services = make([]*rollpinv1.ServiceState, len(m.views))
		for i, v := range m.views {
			u.Services[i] = v.Proto()
		}
		m.u = u
		m.watch = &rollpinv1.WatchPinsResponse{Update: u}
	})
	return m.u
}

// watchMsg returns what a WatchPins stream sends for m.
func (m *outMsg) watchMsg() *rollpinv1.WatchPinsResponse {
	m.update()
	return m.watch
}

// registerMsg returns what a Register stream sends for m: the pins and caps
// of the changed services (service, pin, pin_revision, floor,
// effective_cap), without their instances, version groups or raise status.
// A registered instance needs nothing else, and a service with thousands of
// instances would otherwise send every instance to every one of them. It is
// built from the views alone: no Register stream makes pind build a
// service's full state.
func (m *outMsg) registerMsg() *rollpinv1.RegisterResponse {
	m.pinsOnce.Do(func() {
		u := &rollpinv1.PinUpdate{Revision: m.rev, Snapshot: m.snapshot, Removed: m.removed}
		u.Services = make([]*rollpinv1.ServiceState, len(m.views))
		for i, v := range m.views {
			u.Services[i] = &rollpinv1.ServiceState{
				Service:      v.Name,
				Pin:          v.Pin,
				PinRevision:  v.PinRevision,
				Floor:        v.Floor.String(),
				EffectiveCap: v.EffectiveCap.String(),
			}
		}
		m.pins = &rollpinv1.RegisterResponse{Update: u}
	})
	return m.pins
}

// sharedEncoding is a stream message encoded once for every stream that
// uses the proto codec without compression (all of them, usually): with
// thousands of subscribers, one marshal per update instead of one per
// stream.
type sharedEncoding struct {
	once sync.Once
	pm   *grpc.PreparedMsg
}

// sendShared sends msg on stream, with enc's shared encoding when the stream
// can use it.
func sendShared(stream grpc.ServerStream, enc *sharedEncoding, msg proto.Message) error {
	if !plainProtoStream(stream.Context()) {
		return stream.SendMsg(msg)
	}
	enc.once.Do(func() {
		pm := &grpc.PreparedMsg{}
		if pm.Encode(stream, msg) == nil {
			enc.pm = pm
		}
	})
	if enc.pm == nil {
		return stream.SendMsg(msg)
	}
	return stream.SendMsg(enc.pm)
}

// plainProtoStream reports whether the server stream of ctx sends with the
// proto codec and no compression, so that bytes encoded for one such stream
// are valid on any other.
func plainProtoStream(ctx context.Context) bool {
	st, ok := grpc.ServerTransportStreamFromContext(ctx).(interface {
		SendCompress() string
		ContentSubtype() string
	})
	if !ok {
		return false
	}
	c, sub := st.SendCompress(), st.ContentSubtype()
	return (c == "" || c == "identity") && (sub == "" || sub == "proto")
}

// batch turns the pending updates of a subscriber into the messages it
// sends (see hub for the policy).
func (h *hub) batch(ups []*outMsg) []*outMsg {
	if len(ups) <= 1 {
		return ups
	}
	if len(ups) > mergeBacklog {
		return []*outMsg{h.merge(ups)}
	}
	var out []*outMsg
	start := 0
	for i, u := range ups {
		if u.capMove || i == len(ups)-1 {
			out = append(out, h.merge(ups[start:i+1]))
			start = i + 1
		}
	}
	return out
}

// merge returns mergeUpdates(ms), shared by subscribers merging the same
// range.
func (h *hub) merge(ms []*outMsg) *outMsg {
	if len(ms) == 1 {
		return ms[0]
	}
	key := [2]int64{ms[0].rev, ms[len(ms)-1].rev}
	h.mergedMu.Lock()
	defer h.mergedMu.Unlock()
	if m := h.merged[key]; m != nil {
		return m
	}
	if h.merged == nil || len(h.merged) >= 256 {
		h.merged = map[[2]int64]*outMsg{}
	}
	m := mergeUpdates(ms)
	h.merged[key] = m
	return m
}

// mergeUpdates folds consecutive updates into one: the latest state of
// every service they changed and the services they left removed, at the
// revision of the last.
func mergeUpdates(ms []*outMsg) *outMsg {
	latest := map[string]*ServiceView{}
	removed := map[string]bool{}
	m := &outMsg{rev: ms[len(ms)-1].rev}
	for _, x := range ms {
		for _, v := range x.views {
			latest[v.Name] = v
			delete(removed, v.Name)
		}
		for _, r := range x.removed {
			delete(latest, r)
			removed[r] = true
		}
		m.capMove = m.capMove || x.capMove
	}
	for _, n := range slices.Sorted(maps.Keys(latest)) {
		m.views = append(m.views, latest[n])
	}
	m.removed = slices.Sorted(maps.Keys(removed))
	return m.sized()
}

// snapshotUpdate returns the message that carries st in full, built once per
// State.
func (st *State) snapshotUpdate() *outMsg {
	st.snapOnce.Do(func() {
		names := st.Names()
		m := &outMsg{rev: st.Revision, snapshot: true, views: make([]*ServiceView, len(names))}
		for i, n := range names {
			m.views[i] = st.Services[n]
		}
		st.snap = m.sized()
	})
	return st.snap
}

// load reads every key under the prefix and publishes the result as a new
// starting point. It returns the revision read.
func (s *Server) load(ctx context.Context) (int64, error) {
	resp, err := s.cli.Get(ctx, s.cfg.Prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	now := time.Now()
	data := map[string]*svcData{}
	for _, kv := range resp.Kvs {
		s.applyKV(data, mvccpb.PUT, kv, now)
	}
	// Keep the instance-change time of services whose set did not change.
	for name, d := range data {
		if old := s.data[name]; old != nil && sameInstances(old.insts, d.insts) {
			d.changedAt = old.changedAt
		}
	}
	s.data = data
	st := &State{Revision: resp.Header.Revision, Services: map[string]*ServiceView{}}
	raise := s.raiseFunc()
	for name, d := range data {
		if d.pin == nil && len(d.insts) == 0 {
			continue
		}
		st.Services[name] = d.view(name, raise)
	}
	s.hub.reset(st)
	s.metrics.setState(st)
	return st.Revision, nil
}

func sameInstances(a, b map[string]instanceOf) bool {
	if len(a) != len(b) {
		return false
	}
	for id, x := range a {
		y, ok := b[id]
		if !ok || !x.manifest.Equal(y.manifest) {
			return false
		}
	}
	return true
}

// applyKV applies one event to data and reports the service it touched.
func (s *Server) applyKV(data map[string]*svcData, typ mvccpb.Event_EventType, kv *mvccpb.KeyValue, now time.Time) (string, bool) {
	svc, id, isPin, ok := s.keys.parse(string(kv.Key))
	if !ok {
		return "", false
	}
	d := data[svc]
	if d == nil {
		d = newSvcData(now)
		data[svc] = d
	}
	switch {
	case isPin && typ == mvccpb.PUT:
		p, m, err := decodePin(kv.Value)
		if err != nil {
			s.log.Warn("ignoring unreadable pin", "key", string(kv.Key), "err", err)
			return "", false
		}
		d.pin, d.pinMan, d.pinRev = p, m, kv.ModRevision
		s.metrics.observeLag(p, now)
	case isPin:
		d.pin, d.pinMan, d.pinRev = nil, backport.Manifest{}, 0
	case typ == mvccpb.PUT:
		in, m, err := decodeInstance(kv.Value)
		if err != nil {
			s.log.Warn("ignoring unreadable instance", "key", string(kv.Key), "err", err)
			return "", false
		}
		if c := m.String(); in.GetManifest() != c {
			in.Manifest = c // canonical text: version groups key on it
		}
		if old, had := d.insts[id]; !had || !old.manifest.Equal(m) {
			d.changedAt = now
		}
		d.put(id, instanceOf{inst: in, manifest: m, size: len(kv.Value)})
	default:
		if d.remove(id) {
			d.changedAt = now
		}
	}
	return svc, true
}

// apply folds one watch response into the state and publishes the update.
func (s *Server) apply(resp *clientv3.WatchResponse) {
	if len(resp.Events) == 0 {
		return
	}
	now := time.Now()
	changed := map[string]bool{}
	for _, ev := range resp.Events {
		if svc, ok := s.applyKV(s.data, ev.Type, ev.Kv, now); ok {
			changed[svc] = true
		}
	}
	if len(changed) == 0 {
		return // keys under the prefix that are neither pins nor instances
	}
	rev := resp.Events[len(resp.Events)-1].Kv.ModRevision
	old := s.hub.cur.Load()
	st := &State{Revision: rev, Services: make(map[string]*ServiceView, len(old.Services)+len(changed))}
	for n, v := range old.Services {
		st.Services[n] = v
	}
	up := &outMsg{rev: rev}
	names := make([]string, 0, len(changed))
	for n := range changed {
		names = append(names, n)
	}
	slices.Sort(names)
	raise := s.raiseFunc()
	capMove := false
	for _, n := range names {
		d := s.data[n]
		if d.pin == nil && len(d.insts) == 0 {
			delete(s.data, n)
			if _, had := st.Services[n]; had {
				delete(st.Services, n)
				up.removed = append(up.removed, n)
			}
			continue
		}
		v := d.view(n, raise)
		if o := old.Services[n]; o == nil || o.PinRevision != v.PinRevision || !o.EffectiveCap.Equal(v.EffectiveCap) {
			capMove = true
		}
		st.Services[n] = v
		up.views = append(up.views, v)
	}
	up.capMove = capMove || len(up.removed) > 0
	s.hub.publish(st, up.sized())
	s.metrics.setState(st)
}

// watchLoop follows etcd from rev+1 until ctx ends. It re-watches when the
// watch breaks, and reloads everything when its revision was compacted.
func (s *Server) watchLoop(ctx context.Context, rev int64) {
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := s.cli.Watch(wctx, s.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithCreatedNotify())
		s.follow(ctx, wctx, wch, cancel, &rev)
		cancel()
		s.watchBroken()
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// follow applies the responses of one watch until it breaks or wctx ends
// (it does not wait for the channel to close: with etcd unreachable, the
// client may not close it until the connection comes back).
func (s *Server) follow(ctx, wctx context.Context, wch clientv3.WatchChan, cancel context.CancelFunc, rev *int64) {
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-wch:
		case <-wctx.Done():
			return
		}
		if !ok {
			return
		}
		if resp.Created {
			s.watchCreated(cancel)
		}
		if err := resp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) || resp.CompactRevision > 0 {
				s.log.Warn("watch revision compacted: reloading every pin", "revision", *rev, "compact_revision", resp.CompactRevision)
				if r, lerr := s.reload(ctx); lerr == nil {
					*rev = r
				}
			} else {
				s.log.Warn("etcd watch broke: watching again", "revision", *rev, "err", err)
			}
			return
		}
		s.apply(&resp)
		if n := len(resp.Events); n > 0 {
			*rev = resp.Events[n-1].Kv.ModRevision
		}
	}
}

// reload retries load until it succeeds or ctx ends.
func (s *Server) reload(ctx context.Context) (int64, error) {
	for {
		rev, err := s.load(ctx)
		if err == nil {
			return rev, nil
		}
		s.log.Warn("reloading pins from etcd failed: retrying", "err", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// serveUpdates sends a snapshot (or, when start > 0 and the history reaches
// back to it, every update after start), then every update, until ctx ends
// or the Server closes.
func (s *Server) serveUpdates(ctx context.Context, start int64, send func(*outMsg) error) error {
	noContact := s.lostContact()
	if noContact.Err() != nil {
		return errNoContact
	}
	poke, cancel := s.hub.subscribe(false)
	defer cancel()
	s.metrics.subscribers(1)
	defer s.metrics.subscribers(-1)

	cursor := start
	snapshot := start <= 0
	if !snapshot && start > s.hub.cur.Load().Revision {
		// The client saw a revision this Server has not reached: valid only if
		// etcd has it (another pind served it); otherwise start afresh.
		gctx, gcancel := context.WithTimeout(ctx, s.callTimeout())
		resp, err := s.cli.Get(gctx, s.keys.pins(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		gcancel()
		if err != nil || start > resp.Header.Revision {
			snapshot = true
		}
	}
	for {
		var ups []*outMsg
		var st *State
		if snapshot {
			st = s.hub.cur.Load()
			snapshot = false
		} else {
			ups, st = s.hub.next(cursor)
		}
		if st != nil {
			if err := send(st.snapshotUpdate()); err != nil {
				return err
			}
			cursor = st.Revision
			continue
		}
		ups = s.hub.batch(ups)
		for _, u := range ups {
			if err := send(u); err != nil {
				return err
			}
			cursor = u.rev
		}
		if len(ups) > 0 {
			continue
		}
		select {
		case <-poke:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.done:
			return status.Error(codes.Unavailable, "pind is shutting down: reconnect (to another pind if there is one) and resume from the last revision")
		case <-noContact.Done():
			return errNoContact
		}
	}
}
