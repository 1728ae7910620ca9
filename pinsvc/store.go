package pinsvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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

// AnyRevision, passed as an expected revision to UpdatePin, skips the
// revision check: the write is still a compare-and-swap against what was
// read, retried when it races.
const AnyRevision int64 = -1

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

// PinUpdateFunc computes the new pin from the current one (nil when the
// service has no pin) and its mod revision (0 when absent). cur is a copy the
// function may modify and return. Returning nil writes nothing.
type PinUpdateFunc func(cur *rollpinv1.Pin, rev int64) (*rollpinv1.Pin, error)

// UpdatePin is the single write path of pins: it reads the pin of service,
// calls fn, and writes its result in an etcd transaction that succeeds only
// when the key's mod revision is still the one read. With expectedRev >= 0
// the read revision must also equal expectedRev (0: the pin must be absent),
// and a race fails with an error wrapping ErrConflict; with AnyRevision the
// read-modify-write is retried a few times on races. It returns the mod
// revision of the new pin (the revision read when fn returned nil) and the
// pin written. Errors returned by fn are returned as they are. Safe for
// concurrent use; ctx bounds the etcd calls.
func (s *Server) UpdatePin(ctx context.Context, service string, expectedRev int64, fn PinUpdateFunc) (int64, *rollpinv1.Pin, error) {
	attempts := 1
	if expectedRev == AnyRevision {
		attempts = 5
	}
	for i := 0; ; i++ {
		cur, _, rev, err := s.readPin(ctx, service)
		if err != nil {
			return 0, nil, err
		}
		if expectedRev >= 0 && rev != expectedRev {
			return 0, nil, fmt.Errorf("%w: %s is at revision %d, the write expected %d: read it again (pindctl status) and retry", ErrConflict, service, rev, expectedRev)
		}
		next, err := fn(proto.CloneOf(cur), rev)
		if err != nil {
			return 0, nil, err
		}
		if next == nil {
			return rev, cur, nil
		}
		key := s.keys.pin(service)
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, marshal(next))).
			Commit()
		if err != nil {
			return 0, nil, fmt.Errorf("pinsvc: write pin of %s: %w", service, err)
		}
		if resp.Succeeded {
			return resp.Header.Revision, next, nil
		}
		if i+1 >= attempts {
			return 0, nil, fmt.Errorf("%w: %s changed while it was being written: read it again and retry", ErrConflict, service)
		}
	}
}

// RaisePin sets the manifest of service's pin to manifest, recording by,
// reason and the time in the pin, and returns the new mod revision. Its
// only guard is a compare-and-swap on the pin's mod revision: the pin must
// still be at expectedRev (0: it must not exist yet, and is then created in
// AUTO mode), or nothing is written and the error wraps ErrConflict. It
// checks neither the floor, the mode, the hold nor the manifest's relation
// to the current pin (it may lower it): the caller has decided. It is not
// what the RaiseController uses — the controller's transaction also
// requires that no instance registered after the state it decided on and
// that its pind still leads the election.
func (s *Server) RaisePin(ctx context.Context, service string, manifest backport.Manifest, expectedRev int64, by, reason string) (int64, error) {
	if err := checkServiceName("service", service); err != nil {
		return 0, err
	}
	rev, _, err := s.UpdatePin(ctx, service, expectedRev, func(cur *rollpinv1.Pin, _ int64) (*rollpinv1.Pin, error) {
		if cur == nil {
			cur = &rollpinv1.Pin{Mode: rollpinv1.PinMode_PIN_MODE_AUTO}
		}
		cur.Manifest = manifest.String()
		cur.UpdatedBy = by
		cur.UpdatedAt = ts(time.Now())
		cur.Reason = reason
		return cur, nil
	})
	return rev, err
}
