package pinsvc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Defaults of the history retention (WithAuditRetention).
const (
	// DefaultAuditMaxEntries is how many history entries are kept.
	DefaultAuditMaxEntries = 10000
	// DefaultAuditMaxAge is how long history entries are kept (90 days).
	DefaultAuditMaxAge = 90 * 24 * time.Hour
	// defaultHistoryPage and maxHistoryPage bound GetHistory pages.
	defaultHistoryPage = 100
	maxHistoryPage     = 1000
)

// History keys:
//
//	<prefix>history/<revision, 20 digits>-<index, 3 digits>   proto-encoded rollpinv1.HistoryEntry
//	<prefix>historycursor/<watched prefix>                    last revision recorded, decimal
//
// Every pind records history from its own etcd watch of the pins and the
// contract marks, starting after the cursor; entries are written with a
// put-if-absent transaction keyed by the etcd revision of the change, so
// several pinds recording the same change write it once, and a pind that
// restarts picks up the changes it missed (unless etcd compacted them).
// Before any cursor exists, recording starts at etcd's oldest revision, so
// changes made before the first recorder ran are in the history too.
func (k keys) history() string                { return k.prefix + "history/" }
func (k keys) historyCursor(of string) string { return k.prefix + "historycursor/" + of }
func historyKey(prefix string, rev int64, i int) string {
	return fmt.Sprintf("%s%020d-%03d", prefix, rev, i)
}

// auditLimits returns the retention in effect.
func (s *Server) auditLimits() (int, time.Duration) {
	n, age := s.cfg.AuditMaxEntries, s.cfg.AuditMaxAge
	if n <= 0 {
		n = DefaultAuditMaxEntries
	}
	if age <= 0 {
		age = DefaultAuditMaxAge
	}
	return n, age
}

// startHistory starts the goroutines that record the history of pins and
// contract marks and prune it.
func (s *Server) startHistory() {
	for _, of := range []string{"pins", "contracts"} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.recordHistory(s.ctx, of)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.pruneHistoryLoop(s.ctx)
	}()
}

// recordHistory follows <prefix><of>/ and records its changes until ctx
// ends, restarting after etcd errors.
func (s *Server) recordHistory(ctx context.Context, of string) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.recordHistoryOnce(ctx, of)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("history recorder restarts", "watching", of, "err", err, "after", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (s *Server) recordHistoryOnce(ctx context.Context, of string) error {
	cursorKey := s.keys.historyCursor(of)
	resp, err := s.cli.Get(ctx, cursorKey)
	if err != nil {
		return fmt.Errorf("pinsvc: read history cursor: %w", err)
	}
	// With no cursor yet, the history starts at the oldest revision etcd
	// still holds: the changes accepted before this recorder first read the
	// cursor (by this pind, which serves before its recorder runs, or by
	// earlier ones) belong to it too.
	start, fresh := int64(1), true
	if len(resp.Kvs) == 1 {
		if rev, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64); err == nil && rev >= 0 {
			start, fresh = rev+1, false
		}
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	prefix := s.keys.prefix + of + "/"
	for wr := range s.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(start)) {
		if errors.Is(wr.Err(), rpctypes.ErrCompacted) {
			if fresh {
				s.log.Info("history starts at the oldest revision etcd holds", "watching", of, "revision", wr.CompactRevision)
			} else {
				s.log.Warn("history has a gap: etcd compacted changes before they were recorded", "watching", of, "from", start, "compacted", wr.CompactRevision)
			}
			_, err := s.cli.Put(ctx, cursorKey, strconv.FormatInt(wr.CompactRevision-1, 10))
			if err != nil {
				return fmt.Errorf("pinsvc: move history cursor past a compaction: %w", err)
			}
			return wr.Err()
		}
		if err := wr.Err(); err != nil {
			return fmt.Errorf("pinsvc: history watch: %w", err)
		}
		byRev := map[int64][]*rollpinv1.HistoryEntry{}
		var revs []int64
		for _, ev := range wr.Events {
			name := strings.TrimPrefix(string(ev.Kv.Key), prefix)
			var entries []*rollpinv1.HistoryEntry
			if of == "pins" {
				entries = pinHistory(name, ev)
			} else {
				entries = contractHistory(name, ev)
			}
			rev := ev.Kv.ModRevision
			if len(entries) > 0 {
				if _, seen := byRev[rev]; !seen {
					revs = append(revs, rev)
				}
				byRev[rev] = append(byRev[rev], entries...)
			}
		}
		for _, rev := range revs {
			if err := s.writeHistory(ctx, cursorKey, rev, byRev[rev]); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("pinsvc: history watch ended: %w", context.Cause(wctx))
}

// writeHistory writes the entries of one revision unless they exist.
func (s *Server) writeHistory(ctx context.Context, cursorKey string, rev int64, entries []*rollpinv1.HistoryEntry) error {
	first := historyKey(s.keys.history(), rev, 0)
	ops := make([]clientv3.Op, 0, len(entries)+1)
	for i, e := range entries {
		e.Revision = rev
		ops = append(ops, clientv3.OpPut(historyKey(s.keys.history(), rev, i), marshal(e)))
	}
	ops = append(ops, clientv3.OpPut(cursorKey, strconv.FormatInt(rev, 10)))
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(first), "=", 0)).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("pinsvc: write history of revision %d: %w", rev, err)
	}
	if resp.Succeeded {
		s.pruneHistory(ctx)
	}
	return nil
}

// pinHistory turns one change of a pin key into history entries: one per
// aspect that changed (manifest, hold, mode).
func pinHistory(service string, ev *clientv3.Event) []*rollpinv1.HistoryEntry {
	var prev, cur *rollpinv1.Pin
	if ev.PrevKv != nil {
		prev = &rollpinv1.Pin{}
		if proto.Unmarshal(ev.PrevKv.Value, prev) != nil {
			prev = &rollpinv1.Pin{}
		}
	}
	if ev.Type == mvccpb.DELETE {
		return []*rollpinv1.HistoryEntry{{
			Service: service, Kind: rollpinv1.HistoryKind_HISTORY_KIND_PIN_DELETED,
			From: prev.GetManifest(), At: timestamppb.Now(),
		}}
	}
	cur = &rollpinv1.Pin{}
	if err := proto.Unmarshal(ev.Kv.Value, cur); err != nil {
		return nil
	}
	at := cur.GetUpdatedAt()
	if at == nil {
		at = timestamppb.Now()
	}
	var out []*rollpinv1.HistoryEntry
	if prev == nil || prev.GetManifest() != cur.GetManifest() {
		out = append(out, &rollpinv1.HistoryEntry{
			Service: service, Kind: rollpinv1.HistoryKind_HISTORY_KIND_PIN,
			By: cur.GetUpdatedBy(), Reason: cur.GetReason(), At: at,
			From: prev.GetManifest(), To: cur.GetManifest(),
		})
	}
	if prev != nil && prev.GetMode() != cur.GetMode() {
		out = append(out, &rollpinv1.HistoryEntry{
			Service: service, Kind: rollpinv1.HistoryKind_HISTORY_KIND_MODE,
			By: cur.GetUpdatedBy(), Reason: cur.GetReason(), At: at,
			From: modeName(prev.GetMode()), To: modeName(cur.GetMode()),
		})
	}
	if prev != nil && (prev.GetExpectedInstances() != cur.GetExpectedInstances() || prev.GetRaiseBelowExpected() != cur.GetRaiseBelowExpected()) {
		out = append(out, &rollpinv1.HistoryEntry{
			Service: service, Kind: rollpinv1.HistoryKind_HISTORY_KIND_EXPECTED,
			By: cur.GetUpdatedBy(), Reason: cur.GetReason(), At: at,
			From: expectedText(prev), To: expectedText(cur),
		})
	}
	ph, ch := prev.GetHold(), cur.GetHold()
	switch {
	case ch != nil && (ph == nil || ph.GetReason() != ch.GetReason() || ph.GetBy() != ch.GetBy()):
		hat := ch.GetAt()
		if hat == nil {
			hat = at
		}
		out = append(out, &rollpinv1.HistoryEntry{
			Service: service, Kind: rollpinv1.HistoryKind_HISTORY_KIND_HOLD,
			By: ch.GetBy(), Reason: ch.GetReason(), At: hat,
			From: ph.GetReason(), To: ch.GetReason(),
		})
	case ch == nil && ph != nil:
		out = append(out, &rollpinv1.HistoryEntry{
			Service: service, Kind: rollpinv1.HistoryKind_HISTORY_KIND_RELEASE,
			By: cur.GetUpdatedBy(), Reason: cur.GetReason(), At: at,
			From: ph.GetReason(),
		})
	}
	return out
}

// modeName renders a pin mode for history ("auto", "manual").
func modeName(m rollpinv1.PinMode) string {
	if m == rollpinv1.PinMode_PIN_MODE_MANUAL {
		return "manual"
	}
	return "auto"
}

// contractHistory turns one change of a contract mark into a history entry.
// The mark's value is recorded as text when it is short UTF-8.
func contractHistory(track string, ev *clientv3.Event) []*rollpinv1.HistoryEntry {
	text := func(kv *mvccpb.KeyValue) string {
		if kv == nil || len(kv.Value) > 256 || !utf8.Valid(kv.Value) {
			return ""
		}
		return string(kv.Value)
	}
	e := &rollpinv1.HistoryEntry{Track: track, Kind: rollpinv1.HistoryKind_HISTORY_KIND_CONTRACT, At: timestamppb.Now(), From: text(ev.PrevKv)}
	if ev.Type == mvccpb.DELETE {
		e.Kind = rollpinv1.HistoryKind_HISTORY_KIND_CONTRACT_DELETED
	} else {
		e.To = text(ev.Kv)
	}
	return []*rollpinv1.HistoryEntry{e}
}

// pruneHistoryLoop prunes the history at start and then periodically, so
// that entries expire by age even when nothing is written.
func (s *Server) pruneHistoryLoop(ctx context.Context) {
	_, age := s.auditLimits()
	every := min(max(age/10, time.Second), 10*time.Minute)
	for {
		s.pruneHistory(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// pruneHistory deletes the oldest entries beyond the retention count and
// those older than the retention age. Errors are logged: pruning is retried
// by the next write or tick.
func (s *Server) pruneHistory(ctx context.Context) {
	maxN, maxAge := s.auditLimits()
	prefix := s.keys.history()
	end := clientv3.GetPrefixRangeEnd(prefix)
	cnt, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		s.log.Warn("history prune", "err", err)
		return
	}
	if over := cnt.Count - int64(maxN); over > 0 {
		old, err := s.cli.Get(ctx, prefix, clientv3.WithRange(end), clientv3.WithKeysOnly(), clientv3.WithLimit(over))
		if err != nil || len(old.Kvs) == 0 {
			s.log.Warn("history prune", "err", err)
			return
		}
		last := string(old.Kvs[len(old.Kvs)-1].Key)
		if _, err := s.cli.Delete(ctx, prefix, clientv3.WithRange(last+"\x00")); err != nil {
			s.log.Warn("history prune", "err", err)
			return
		}
	}
	cutoff := time.Now().Add(-maxAge)
	for {
		old, err := s.cli.Get(ctx, prefix, clientv3.WithRange(end), clientv3.WithLimit(100))
		if err != nil {
			s.log.Warn("history prune", "err", err)
			return
		}
		var upTo string
		for _, kv := range old.Kvs {
			e := &rollpinv1.HistoryEntry{}
			if proto.Unmarshal(kv.Value, e) == nil && e.GetAt().AsTime().After(cutoff) {
				break
			}
			upTo = string(kv.Key)
		}
		if upTo == "" {
			return
		}
		if _, err := s.cli.Delete(ctx, prefix, clientv3.WithRange(upTo+"\x00")); err != nil {
			s.log.Warn("history prune", "err", err)
			return
		}
		if len(old.Kvs) < 100 {
			return
		}
	}
}

// parsePageToken reads a GetHistory page token: the key suffix of the last
// entry of the previous page ("<revision>-<index>").
func parsePageToken(tok string) (string, error) {
	r, i, ok := strings.Cut(tok, "-")
	rev, err1 := strconv.ParseUint(r, 10, 63)
	idx, err2 := strconv.ParseUint(i, 10, 16)
	if !ok || err1 != nil || err2 != nil || len(r) != 20 || len(i) != 3 || idx > 999 || rev == 0 {
		return "", refusal.Error(codes.InvalidArgument, refusal.InvalidRequest,
			fmt.Sprintf("page_token %q is not a token GetHistory returned: pass next_page_token unchanged, or empty for the first page", tok),
			map[string]string{"field": "page_token"})
	}
	return tok, nil
}

// GetHistory pages through the recorded changes, oldest first; see the
// PinService contract.
func (s *Server) GetHistory(ctx context.Context, req *rollpinv1.GetHistoryRequest) (*rollpinv1.GetHistoryResponse, error) {
	if svc := req.GetService(); svc != "" {
		if err := checkServiceName("service", svc); err != nil {
			return nil, err
		}
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, refusal.Error(codes.InvalidArgument, refusal.InvalidRequest,
			fmt.Sprintf("page_size %d is negative: pass 0 for the default (%d) or up to %d", size, defaultHistoryPage, maxHistoryPage),
			map[string]string{"field": "page_size"})
	case size == 0:
		size = defaultHistoryPage
	case size > maxHistoryPage:
		size = maxHistoryPage
	}
	if req.GetSince() != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return nil, refusal.Error(codes.InvalidArgument, refusal.InvalidRequest,
				fmt.Sprintf("since is not a valid time (%v): pass an RFC 3339 time or leave it unset", err),
				map[string]string{"field": "since"})
		}
	}
	prefix := s.keys.history()
	from := prefix
	if tok := req.GetPageToken(); tok != "" {
		t, err := parsePageToken(tok)
		if err != nil {
			return nil, err
		}
		from = prefix + t + "\x00"
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	resp := &rollpinv1.GetHistoryResponse{}
	var lastKey string
	for {
		batch, err := s.cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(int64(size)+1))
		if err != nil {
			return nil, grpcError(fmt.Errorf("pinsvc: read history: %w", err))
		}
		for _, kv := range batch.Kvs {
			e := &rollpinv1.HistoryEntry{}
			if err := proto.Unmarshal(kv.Value, e); err != nil {
				continue
			}
			if svc := req.GetService(); svc != "" && e.GetService() != svc {
				continue
			}
			if since := req.GetSince(); since != nil && e.GetAt().AsTime().Before(since.AsTime()) {
				continue
			}
			if len(resp.Entries) == size {
				resp.NextPageToken = strings.TrimPrefix(lastKey, prefix)
				return resp, nil
			}
			resp.Entries = append(resp.Entries, e)
			lastKey = string(kv.Key)
		}
		if !batch.More {
			return resp, nil
		}
		from = string(batch.Kvs[len(batch.Kvs)-1].Key) + "\x00"
	}
}

// expectedText renders a pin's expected fleet size for history.
func expectedText(p *rollpinv1.Pin) string {
	if p.GetExpectedInstances() == 0 {
		return ""
	}
	t := strconv.FormatUint(uint64(p.GetExpectedInstances()), 10)
	if p.GetRaiseBelowExpected() {
		t += " (raise below)"
	}
	return t
}

// WatchHistory returns a channel that receives a value after history entries
// are recorded (coalesced: one value may stand for several), and is closed
// when ctx ends or the etcd watch does. The status page follows it to keep
// its timeline current.
func (s *Server) WatchHistory(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	wc := s.cli.Watch(ctx, s.keys.history(), clientv3.WithPrefix(), clientv3.WithFilterDelete())
	go func() {
		defer close(ch)
		for range wc {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch
}
