package fleet

import (
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Row is what a Table holds: a generated volume message with an id and an
// owner.
type Row interface {
	proto.Message
	GetId() string
	GetOwner() string
}

// Table is the in-memory table of volumes of one server instance: rows by
// id, ids made of the instance id and a sequence number. It hands out
// clones, so that no caller shares a row with it. Safe for concurrent use.
type Table[R Row] struct {
	instance string

	mu   sync.Mutex
	next int
	rows map[string]R
}

// NewTable returns an empty table of instance.
func NewTable[R Row](instance string) *Table[R] {
	return &Table[R]{instance: instance, rows: map[string]R{}}
}

// Insert stores the row newRow makes for the next id ("<instance>-<n>")
// and returns a clone of it.
func (t *Table[R]) Insert(newRow func(id string) R) R {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	r := newRow(fmt.Sprintf("%s-%d", t.instance, t.next))
	t.rows[r.GetId()] = r
	return proto.Clone(r).(R)
}

// Get returns a clone of row id, or a NOT_FOUND status error.
func (t *Table[R]) Get(id string) (R, error) { return t.Update(id, nil) }

// Update applies change (if not nil) to row id under the table's lock and
// returns a clone of the row. It returns a NOT_FOUND status error when there
// is no row id, and the error of change, which must then leave the row as
// it was.
func (t *Table[R]) Update(id string, change func(R) error) (R, error) {
	var zero R
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.rows[id]
	if !ok {
		return zero, status.Errorf(codes.NotFound, "no volume %q", id)
	}
	if change != nil {
		if err := change(r); err != nil {
			return zero, err
		}
	}
	return proto.Clone(r).(R), nil
}

// SendOwned calls send with a clone of each row of owner, in no particular
// order, outside the table's lock, and stops at the first error.
func (t *Table[R]) SendOwned(owner string, send func(R) error) error {
	t.mu.Lock()
	var out []R
	for _, r := range t.rows {
		if r.GetOwner() == owner {
			out = append(out, proto.Clone(r).(R))
		}
	}
	t.mu.Unlock()
	for _, r := range out {
		if err := send(r); err != nil {
			return err
		}
	}
	return nil
}
