package pinsvc

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Contract marks and the migration lock live next to the pins:
//
//	<prefix>contracts/<track>   proto-encoded rollpinv1.ContractMark
//	<prefix>locks/migrate       "<lock id>|<who>|<holder>|<RFC 3339 time>", on a lease of its own
func (k keys) contract(track string) string { return k.prefix + "contracts/" + track }
func (k keys) contracts() string            { return k.prefix + "contracts/" }
func (k keys) migrateLock() string          { return k.prefix + "locks/migrate" }

// readContracts returns every contract mark by track, with its mod revision.
func (s *Server) readContracts(ctx context.Context) (map[string]*rollpinv1.ContractMark, map[string]int64, error) {
	resp, err := s.cli.Get(ctx, s.keys.contracts(), clientv3.WithPrefix())
	if err != nil {
		return nil, nil, fmt.Errorf("pinsvc: read contract marks: %w", err)
	}
	marks, revs := s.decodeContracts(resp.Kvs)
	return marks, revs, nil
}

// decodeContracts decodes the contract marks among kvs, by track, with
// their mod revisions; unreadable marks are logged and skipped.
func (s *Server) decodeContracts(kvs []*mvccpb.KeyValue) (map[string]*rollpinv1.ContractMark, map[string]int64) {
	marks := map[string]*rollpinv1.ContractMark{}
	revs := map[string]int64{}
	for _, kv := range kvs {
		m := &rollpinv1.ContractMark{}
		if err := proto.Unmarshal(kv.Value, m); err != nil {
			s.log.Warn("ignoring unreadable contract mark", "key", string(kv.Key), "err", err)
			continue
		}
		marks[m.GetTrack()] = m
		revs[m.GetTrack()] = kv.ModRevision
	}
	return marks, revs
}

func sortedMarks(marks map[string]*rollpinv1.ContractMark) []*rollpinv1.ContractMark {
	out := make([]*rollpinv1.ContractMark, 0, len(marks))
	for _, m := range marks {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetTrack() < out[j].GetTrack() })
	return out
}

func describeMark(m *rollpinv1.ContractMark) string {
	return fmt.Sprintf("%s=%s (migration %s, %s by %s at %s)", m.GetTrack(), m.GetVersion(), m.GetMigration(),
		strings.ToLower(strings.TrimPrefix(m.GetState().String(), "CONTRACT_STATE_")), m.GetBy(), m.GetAt().AsTime().UTC().Format(time.RFC3339))
}

// ListContracts returns every contract mark.
func (s *Server) ListContracts(ctx context.Context, _ *rollpinv1.ListContractsRequest) (*rollpinv1.ListContractsResponse, error) {
	marks, _, err := s.readContracts(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return &rollpinv1.ListContractsResponse{Marks: sortedMarks(marks)}, nil
}

// checkContracts refuses a pin write that lowers a track of service below
// its contract mark, unless force. It is SetPin's hook.
func (s *Server) checkContracts(ctx context.Context, service string, cur, next backport.Manifest, force bool) error {
	if force {
		return nil
	}
	marks, _, err := s.readContracts(ctx)
	if err != nil {
		return err
	}
	for _, e := range next.Entries() {
		m := markAbove(marks, e)
		if m == nil {
			continue
		}
		if cv, ok := cur.Get(e.Track); ok && !e.Version.Less(cv) {
			continue // not lowering (the pin was already forced below the mark)
		}
		return refusal.Error(codes.FailedPrecondition, refusal.PastContract,
			fmt.Sprintf("pin of %s cannot go to %s=%s: below the contract mark %s — the database no longer has what older versions need; pass --force-past-contract only after restoring the schema",
				service, e.Track, e.Version, describeMark(m)),
			map[string]string{refusal.KeyService: service, refusal.KeyTrack: e.Track, refusal.KeyMigration: m.GetMigration()})
	}
	return nil
}

// markAbove returns the contract mark of e's track when e's version is
// below it, nil otherwise.
func markAbove(marks map[string]*rollpinv1.ContractMark, e backport.Entry) *rollpinv1.ContractMark {
	m := marks[e.Track]
	if m == nil {
		return nil
	}
	if mv, err := backport.ParseVersion(m.GetVersion()); err != nil || !e.Version.Less(mv) {
		return nil
	}
	return m
}

// fenceContracts refuses an instance whose manifest is below a contract
// mark on a track it announces, for a service whose pin does not name the
// track (a new service, or one capped on other tracks only). Where the pin
// names the track, the pin fences: it cannot be below the mark unless an
// operator forced it past the contract, which lets old instances of that
// service in. It is Register's hook.
func (s *Server) fenceContracts(reg *registration, marks map[string]*rollpinv1.ContractMark) error {
	if len(marks) == 0 {
		return nil
	}
	snap := s.Snapshot()
	for _, e := range reg.manifest.Entries() {
		m := markAbove(marks, e)
		if m == nil {
			continue
		}
		for _, svc := range reg.services {
			if v := snap.Service(svc); v != nil {
				if _, ok := v.PinManifest.Get(e.Track); ok {
					// The pin fences in register's transaction: at or
					// above the mark it refuses this instance with the
					// roll-back hint; below it (forced past the contract)
					// it lets the instance in.
					continue
				}
			}
			return refusal.Error(codes.FailedPrecondition, refusal.Fenced,
				fmt.Sprintf("%v: instance %s runs %s=%s, below the contract mark %s: the database has contracted; run a newer build",
					ErrFenced, reg.inst.GetId(), e.Track, e.Version, describeMark(m)),
				map[string]string{refusal.KeyService: svc, refusal.KeyTrack: e.Track, refusal.KeyMigration: m.GetMigration()})
		}
	}
	return nil
}

// LockMigrations holds the migration lock while the stream is open.
func (s *Server) LockMigrations(req *rollpinv1.LockMigrationsRequest, stream grpc.ServerStreamingServer[rollpinv1.LockMigrationsResponse]) (err error) {
	defer func() { s.metrics.write("LockMigrations", err) }()
	ctx := stream.Context()
	by, err := s.authorize(ctx)
	if err != nil {
		return err
	}
	if err := checkText("holder", req.GetHolder(), MaxReasonLen); err != nil {
		return err
	}
	ttl := int64(s.cfg.LeaseTTL / time.Second)
	if ttl < 1 {
		ttl = 1
	}
	lease, err := s.cli.Grant(ctx, ttl)
	if err != nil {
		return grpcError(fmt.Errorf("pinsvc: grant migration lock lease: %w", err))
	}
	revoke := func() {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.cli.Revoke(rctx, lease.ID)
	}
	defer revoke()
	id := fmt.Sprintf("%016x", int64(lease.ID))
	key := s.keys.migrateLock()
	val := strings.Join([]string{id, by, strings.ReplaceAll(req.GetHolder(), "|", "/"), time.Now().UTC().Format(time.RFC3339)}, "|")
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, val, clientv3.WithLease(lease.ID))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return grpcError(fmt.Errorf("pinsvc: take migration lock: %w", err))
	}
	if !resp.Succeeded {
		holder := "someone"
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			parts := strings.SplitN(string(kvs[0].Value), "|", 4)
			if len(parts) == 4 {
				holder = fmt.Sprintf("%s (%s) since %s", parts[2], parts[1], parts[3])
			}
		}
		return refusal.Error(codes.FailedPrecondition, refusal.MigrationLocked,
			fmt.Sprintf("migrations are locked by %s: another migrate up is running; wait for it to finish (the lock ends with it)", holder),
			map[string]string{refusal.KeyHolder: holder})
	}
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ka, err := s.cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		return grpcError(fmt.Errorf("pinsvc: keep migration lock alive: %w", err))
	}
	s.log.Info("migration lock taken", "by", by, "holder", req.GetHolder())
	defer s.log.Info("migration lock released", "by", by, "holder", req.GetHolder())
	if err := stream.Send(&rollpinv1.LockMigrationsResponse{LockId: id}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.ctx.Done():
			return grpcError(ErrClosed)
		case _, ok := <-ka:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return refusal.Error(codes.Unavailable, refusal.MigrationLocked, "pind lost the migration lock (etcd unreachable): stop and run migrate up again", nil)
			}
		}
	}
}

// checkLock returns the lock key's value when lockID holds it.
func (s *Server) checkLock(ctx context.Context, lockID string) (string, error) {
	resp, err := s.cli.Get(ctx, s.keys.migrateLock())
	if err != nil {
		return "", fmt.Errorf("pinsvc: read migration lock: %w", err)
	}
	if lockID == "" || len(resp.Kvs) == 0 || !strings.HasPrefix(string(resp.Kvs[0].Value), lockID+"|") {
		return "", refusal.Error(codes.FailedPrecondition, refusal.MigrationLocked,
			"this call does not hold the migration lock (it expired or was never taken): take it with LockMigrations and keep its stream open", nil)
	}
	return string(resp.Kvs[0].Value), nil
}

// contractBlockers lists, for the server-side gate, what is below after:
// pins naming a track below it, live instances running a track below it.
func (s *Server) contractBlockers(after backport.Manifest) []string {
	var out []string
	st := s.Snapshot()
	for _, e := range after.Entries() {
		used := false
		for _, name := range st.Names() {
			v := st.Service(name)
			_, ok := v.PinManifest.Get(e.Track)
			for _, m := range v.Manifests {
				_, in := m.Get(e.Track)
				ok = ok || in
			}
			used = used || ok
		}
		if !used {
			out = append(out, fmt.Sprintf("no service uses track %s (check the after= header)", e.Track))
		}
	}
	for _, name := range st.Names() {
		v := st.Service(name)
		for _, e := range after.Entries() {
			if pv, ok := v.PinManifest.Get(e.Track); ok && pv.Less(e.Version) {
				out = append(out, fmt.Sprintf("pin of %s (%s=%s)", name, e.Track, pv))
			}
		}
		for i, m := range v.Manifests {
			for _, e := range after.Entries() {
				if iv, ok := m.Get(e.Track); ok && iv.Less(e.Version) {
					out = append(out, fmt.Sprintf("instance %s of %s (%s=%s)", v.Instances[i].GetId(), name, e.Track, iv))
				}
			}
		}
	}
	return out
}

// MarkContract records or removes the contract marks of one migration.
func (s *Server) MarkContract(ctx context.Context, req *rollpinv1.MarkContractRequest) (resp *rollpinv1.MarkContractResponse, err error) {
	defer func() { s.metrics.write("MarkContract", err) }()
	by, err := s.authorize(ctx)
	if err != nil {
		return nil, err
	}
	after, err := parseManifestField("after", req.GetAfter())
	if err != nil {
		return nil, err
	}
	if after.IsEmpty() {
		return nil, invalid("after is empty: pass the after= manifest of the contract migration")
	}
	if err := checkText("migration", req.GetMigration(), MaxReasonLen); err != nil {
		return nil, err
	}
	if req.GetMigration() == "" {
		return nil, invalid("migration is empty: pass the file name of the contract migration")
	}
	state := req.GetState()
	if !req.GetRemove() && state != rollpinv1.ContractState_CONTRACT_STATE_PENDING && state != rollpinv1.ContractState_CONTRACT_STATE_APPLIED {
		return nil, invalid("state %v is not valid: use CONTRACT_STATE_PENDING before running the migration and CONTRACT_STATE_APPLIED after", state)
	}
	lockVal, err := s.checkLock(ctx, req.GetLockId())
	if err != nil {
		return nil, grpcError(err)
	}
	if !req.GetRemove() && state == rollpinv1.ContractState_CONTRACT_STATE_PENDING {
		if b := s.contractBlockers(after); len(b) > 0 {
			return nil, refusal.Error(codes.FailedPrecondition, refusal.ContractNotReached,
				fmt.Sprintf("contract migration %s needs %s, but these are below it: %s; wait until they are upgraded (pindctl migrate gate --wait)", req.GetMigration(), after, strings.Join(b, ", ")),
				map[string]string{refusal.KeyMigration: req.GetMigration()})
		}
	}
	marks, revs, err := s.readContracts(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.Value(s.keys.migrateLock()), "=", lockVal)}
	var ops []clientv3.Op
	for _, e := range after.Entries() {
		key := s.keys.contract(e.Track)
		cur := marks[e.Track]
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", revs[e.Track]))
		mine := cur != nil && cur.GetMigration() == req.GetMigration() && cur.GetMigrationVersion() == req.GetMigrationVersion()
		switch {
		case req.GetRemove():
			if !mine || cur.GetState() != rollpinv1.ContractState_CONTRACT_STATE_PENDING {
				continue
			}
			if prev := cur.GetPrevious(); prev != nil {
				ops = append(ops, clientv3.OpPut(key, marshal(prev)))
			} else {
				ops = append(ops, clientv3.OpDelete(key))
			}
			marks[e.Track] = cur.GetPrevious()
		case mine:
			next := proto.CloneOf(cur)
			next.State, next.By, next.At = state, by, ts(time.Now())
			ops = append(ops, clientv3.OpPut(key, marshal(next)))
			marks[e.Track] = next
		default:
			if cur != nil {
				if cv, err := backport.ParseVersion(cur.GetVersion()); err == nil && e.Version.Less(cv) {
					continue // a later contract already holds this track higher
				}
			}
			var prev *rollpinv1.ContractMark
			if cur != nil {
				prev = proto.CloneOf(cur)
				prev.Previous = nil
			}
			next := &rollpinv1.ContractMark{
				Track: e.Track, Version: e.Version.String(), Migration: req.GetMigration(), MigrationVersion: req.GetMigrationVersion(),
				By: by, At: ts(time.Now()), State: state, After: after.String(), Previous: prev,
			}
			ops = append(ops, clientv3.OpPut(key, marshal(next)))
			marks[e.Track] = next
		}
	}
	if len(ops) > 0 {
		r, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return nil, grpcError(fmt.Errorf("pinsvc: write contract marks: %w", err))
		}
		if !r.Succeeded {
			return nil, grpcError(fmt.Errorf("%w: the migration lock or a contract mark changed while writing: run migrate up again", ErrConflict))
		}
	}
	for k, m := range marks {
		if m == nil {
			delete(marks, k)
		}
	}
	s.log.Warn("contract marks written", "migration", req.GetMigration(), "after", after.String(), "state", state.String(), "remove", req.GetRemove(), "by", by)
	return &rollpinv1.MarkContractResponse{Marks: sortedMarks(marks)}, nil
}
