package pinsvc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Sentinel errors of the store. Server RPCs turn them into status codes.
var (
	// ErrConflict: the pin changed since it was read (or is not at the
	// expected revision). Nothing was written. RPCs answer ABORTED.
	ErrConflict = errors.New("pinsvc: pin changed since it was read")
	// ErrFenced: an instance is below the pin. RPCs answer FAILED_PRECONDITION.
	ErrFenced = errors.New("pinsvc: instance is below the pin")
	// ErrClosed: the Server is closed.
	ErrClosed = errors.New("pinsvc: server closed")
)

// anyRevision, passed as an expected revision to updatePin, skips the
// revision check: the write is still a compare-and-swap against what was
// read, decided again when it races.
const anyRevision int64 = -1

// keys computes the etcd keys under a prefix.
//
//	<prefix>pins/<service>                 proto-encoded rollpinv1.Pin
//	<prefix>instances/<service>/<id>       proto-encoded rollpinv1.Instance, leased
type keys struct{ prefix string }

func (k keys) pin(service string) string { return k.prefix + "pins/" + service }
func (k keys) pins() string              { return k.prefix + "pins/" }
func (k keys) instances() string         { return k.prefix + "instances/" }
func (k keys) instance(service, id string) string {
	return k.prefix + "instances/" + service + "/" + id
}

// parse classifies a key: a pin (service, "") or an instance (service, id).
func (k keys) parse(key string) (service, id string, isPin, ok bool) {
	rest, found := strings.CutPrefix(key, k.prefix)
	if !found {
		return "", "", false, false
	}
	if s, found := strings.CutPrefix(rest, "pins/"); found {
		return s, "", true, s != "" && !strings.Contains(s, "/")
	}
	if s, found := strings.CutPrefix(rest, "instances/"); found {
		svc, id, found := strings.Cut(s, "/")
		return svc, id, false, found && svc != "" && id != ""
	}
	return "", "", false, false
}

// decodePin decodes a stored pin and parses its manifest.
func decodePin(b []byte) (*rollpinv1.Pin, backport.Manifest, error) {
	p := &rollpinv1.Pin{}
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, backport.Manifest{}, fmt.Errorf("pinsvc: decode pin: %w", err)
	}
	m, err := backport.ParseManifest(p.GetManifest())
	if err != nil {
		return nil, backport.Manifest{}, fmt.Errorf("pinsvc: stored pin: %w", err)
	}
	return p, m, nil
}

// decodeInstance decodes a stored instance and parses its manifest.
func decodeInstance(b []byte) (*rollpinv1.Instance, backport.Manifest, error) {
	in := &rollpinv1.Instance{}
	if err := proto.Unmarshal(b, in); err != nil {
		return nil, backport.Manifest{}, fmt.Errorf("pinsvc: decode instance: %w", err)
	}
	m, err := backport.ParseManifest(in.GetManifest())
	if err != nil {
		return nil, backport.Manifest{}, fmt.Errorf("pinsvc: stored instance: %w", err)
	}
	return in, m, nil
}

func marshal(m proto.Message) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("pinsvc: marshal %T: %v", m, err)) // only valid messages are built here
	}
	return string(b)
}

// readPin reads the pin of service from etcd: nil and revision 0 when absent.
func (s *Server) readPin(ctx context.Context, service string) (*rollpinv1.Pin, backport.Manifest, int64, error) {
	resp, err := s.cli.Get(ctx, s.keys.pin(service))
	if err != nil {
		return nil, backport.Manifest{}, 0, fmt.Errorf("pinsvc: read pin of %s: %w", service, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, backport.Manifest{}, 0, nil
	}
	kv := resp.Kvs[0]
	p, m, err := decodePin(kv.Value)
	if err != nil {
		return nil, backport.Manifest{}, 0, err
	}
	return p, m, kv.ModRevision, nil
}

// pinUpdateFunc computes the new pin from the current one (nil when the
// service has no pin), its mod revision (0 when absent) and the state the
// decision may consult (st: its view of the service's live instances). cur
// is a copy the function may modify and return. Returning nil writes
// nothing.
type pinUpdateFunc func(cur *rollpinv1.Pin, rev int64, st *State) (*rollpinv1.Pin, error)

// maxPinAttempts bounds the read-decide-write rounds of updatePin.
const maxPinAttempts = 8

// updatePin is the single write path of operator pin writes: it reads the
// pin of service, calls fn with it and the current state, and writes its
// result in one etcd transaction that succeeds only when
//
//   - the pin key's mod revision is still the one read, and
//   - no instance key of the service was written after the state fn saw
//     (so a decision that checked the live instances, such as a raise
//     refused above the floor, cannot race the registration of an older
//     instance: either the registration's transaction sees the new pin and
//     is fenced, or this one sees the new instance and decides again).
//
// With expectedRev >= 0 the pin's revision must also equal expectedRev
// (0: the pin must be absent), and a pin that moves fails with ErrConflict;
// with anyRevision a pin moved by another writer is read again and fn
// decides again, except that a pin created by another writer since it was
// read as absent is a conflict: creation is compare-and-create, concurrent
// creators never overwrite each other. Instance churn alone never fails the
// write: it waits until the state has seen the new instances and decides
// again. It returns the mod revision of the new pin (the revision read when
// fn returned nil) and the pin written. Errors returned by fn are returned
// as they are. ctx bounds the etcd calls.
func (s *Server) updatePin(ctx context.Context, service string, expectedRev int64, fn pinUpdateFunc) (int64, *rollpinv1.Pin, error) {
	key, instPfx := s.keys.pin(service), s.keys.instance(service, "")
	ctx, cancel := context.WithTimeout(ctx, maxPinAttempts*s.callTimeout())
	defer cancel()
	for attempt := 1; ; attempt++ {
		st := s.Snapshot()
		cur, _, rev, err := s.readPin(ctx, service)
		if err != nil {
			return 0, nil, err
		}
		if expectedRev >= 0 && rev != expectedRev {
			return 0, nil, fmt.Errorf("%w: %s is at revision %d, the write expected %d: read it again (pindctl status) and retry", ErrConflict, service, rev, expectedRev)
		}
		next, err := fn(proto.CloneOf(cur), rev, st)
		if err != nil {
			return 0, nil, err
		}
		if next == nil {
			return rev, cur, nil
		}
		if s.beforePinTxn != nil {
			s.beforePinTxn()
		}
		resp, err := s.cli.Txn(ctx).
			If(
				clientv3.Compare(clientv3.ModRevision(key), "=", rev),
				clientv3.Compare(clientv3.ModRevision(instPfx), "<", st.Revision+1).WithPrefix(),
			).
			Then(clientv3.OpPut(key, marshal(next))).
			Else(
				clientv3.OpGet(key, clientv3.WithKeysOnly()),
				clientv3.OpGet(instPfx, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
					clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithLimit(1)),
			).
			Commit()
		if err != nil {
			return 0, nil, fmt.Errorf("pinsvc: write pin of %s: %w", service, err)
		}
		if resp.Succeeded {
			return resp.Header.Revision, next, nil
		}
		var nowRev, instRev int64
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			nowRev = kvs[0].ModRevision
		}
		if kvs := resp.Responses[1].GetResponseRange().GetKvs(); len(kvs) > 0 {
			instRev = kvs[0].ModRevision
		}
		switch {
		case nowRev != rev && rev == 0:
			return 0, nil, fmt.Errorf("%w: the pin of %s was created by another writer while this one was creating it: read it (pindctl status) and retry", ErrConflict, service)
		case nowRev != rev && expectedRev >= 0:
			return 0, nil, fmt.Errorf("%w: %s changed while it was being written: read it again and retry", ErrConflict, service)
		case attempt >= maxPinAttempts:
			return 0, nil, fmt.Errorf("%w: %s or its instances kept changing while it was being written: retry", ErrConflict, service)
		}
		// Instances moved (or the pin, with anyRevision): decide again once
		// the state has seen them.
		if instRev > st.Revision {
			s.waitRevision(ctx, instRev)
		}
	}
}
