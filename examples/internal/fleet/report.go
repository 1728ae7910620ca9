package fleet

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Report kinds.
const (
	KindClient   = "client"   // periodic counters of a load client
	KindServer   = "server"   // periodic counters of a server
	KindReady    = "ready"    // a server serves and is registered with pind
	KindDrained  = "drained"  // a client stopped using a slot
	KindFeatures = "features" // result of a features probe
	KindFinal    = "final"    // last counters of a process that is exiting
	KindSeeded   = "seeded"   // volumes a seed run created
	KindReadback = "readback" // result of reading seeded volumes back
)

// Report is one JSON line a process writes on stdout.
type Report struct {
	Kind  string `json:"kind"`
	ID    string `json:"id"`
	Build string `json:"build"` // API version of the binary, "1.3" or "1.4"
	// Role is "client" or "server" (set on every report).
	Role string `json:"role,omitempty"`
	// Slot is the slot a "drained" report is about.
	Slot int `json:"slot,omitempty"`
	// Addr is the address a "ready" server listens on.
	Addr string `json:"addr,omitempty"`
	// Cap is the cap the process currently holds for the volume service.
	Cap    string `json:"cap,omitempty"`
	Counts Counts `json:"counts"`
	// Errors holds the first unexpected failures and lost-meaning answers.
	Errors []string `json:"errors,omitempty"`
	// Features is the outcome of each probe of a features run: "ok",
	// "refused" or "downgraded".
	Features map[string]string `json:"features,omitempty"`
	// Volumes are the volumes a "seeded" run created: size in MiB by id.
	Volumes map[string]int64 `json:"volumes,omitempty"`
}

// Counts are cumulative counters. Calls are classified once each: OK (the
// answer matched what was asked), Refused (FAILED_PRECONDITION as designed:
// the pin does not allow what was asked), Failed (any other error), Lost (an
// answer that does not mean what was asked).
type Counts struct {
	Calls   int64 `json:"calls"`
	OK      int64 `json:"ok"`
	Refused int64 `json:"refused"`
	Failed  int64 `json:"failed"`
	Lost    int64 `json:"lost"`
	// FieldsDropped and EnumsDowngraded count what the interceptors changed
	// when downgrading messages sent by this process; DefaultsFilled what
	// they filled in messages it received.
	FieldsDropped   int64 `json:"fields_dropped"`
	EnumsDowngraded int64 `json:"enums_downgraded"`
	DefaultsFilled  int64 `json:"defaults_filled"`
	// Per-feature outcomes of 1.4 clients.
	NewMethodOK      int64 `json:"new_method_ok,omitempty"`
	NewMethodRefused int64 `json:"new_method_refused,omitempty"`
	MultiAttachOK    int64 `json:"multi_attach_ok,omitempty"`
	MultiAttachRef   int64 `json:"multi_attach_refused,omitempty"`
	NVMeOK           int64 `json:"nvme_ok,omitempty"`
	NVMeDowngraded   int64 `json:"nvme_downgraded,omitempty"`
	// Backfilled counts the rows whose size_mib a 1.4 server's backfill set.
	Backfilled int64 `json:"backfilled,omitempty"`
}

// Add returns the elementwise sum of c and o.
func (c Counts) Add(o Counts) Counts {
	c.Calls += o.Calls
	c.OK += o.OK
	c.Refused += o.Refused
	c.Failed += o.Failed
	c.Lost += o.Lost
	c.FieldsDropped += o.FieldsDropped
	c.EnumsDowngraded += o.EnumsDowngraded
	c.DefaultsFilled += o.DefaultsFilled
	c.NewMethodOK += o.NewMethodOK
	c.NewMethodRefused += o.NewMethodRefused
	c.MultiAttachOK += o.MultiAttachOK
	c.MultiAttachRef += o.MultiAttachRef
	c.NVMeOK += o.NVMeOK
	c.NVMeDowngraded += o.NVMeDowngraded
	c.Backfilled += o.Backfilled
	return c
}

// Counter names a counter of a Tally.
type Counter int

// Counters of a Tally.
const (
	Calls Counter = iota
	OK
	Refused
	Failed
	Lost
	FieldsDropped
	EnumsDowngraded
	DefaultsFilled
	NewMethodOK
	NewMethodRefused
	MultiAttachOK
	MultiAttachRefused
	NVMeOK
	NVMeDowngraded
	Backfilled
	numCounters
)

// maxErrors bounds the error examples a Tally keeps.
const maxErrors = 8

// Tally is a set of atomic counters plus the first few error messages. Safe
// for concurrent use.
type Tally struct {
	c [numCounters]atomic.Int64

	mu   sync.Mutex
	errs []string
}

// Inc adds one to counter k.
func (t *Tally) Inc(k Counter) { t.c[k].Add(1) }

// Add adds n to counter k.
func (t *Tally) Add(k Counter, n int64) { t.c[k].Add(n) }

// Fail counts an unexpected failure (k is Failed or Lost) and keeps its
// message if fewer than a few are kept.
func (t *Tally) Fail(k Counter, msg string) {
	t.c[k].Add(1)
	t.mu.Lock()
	if len(t.errs) < maxErrors {
		t.errs = append(t.errs, msg)
	}
	t.mu.Unlock()
}

// Counts returns the current values.
func (t *Tally) Counts() Counts {
	g := func(k Counter) int64 { return t.c[k].Load() }
	return Counts{
		Calls: g(Calls), OK: g(OK), Refused: g(Refused), Failed: g(Failed), Lost: g(Lost),
		FieldsDropped: g(FieldsDropped), EnumsDowngraded: g(EnumsDowngraded), DefaultsFilled: g(DefaultsFilled),
		NewMethodOK: g(NewMethodOK), NewMethodRefused: g(NewMethodRefused),
		MultiAttachOK: g(MultiAttachOK), MultiAttachRef: g(MultiAttachRefused),
		NVMeOK: g(NVMeOK), NVMeDowngraded: g(NVMeDowngraded),
		Backfilled: g(Backfilled),
	}
}

// Errors returns a copy of the kept error messages.
func (t *Tally) Errors() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.errs...)
}

// Reporter writes Reports as JSON lines. Safe for concurrent use.
type Reporter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewReporter returns a Reporter writing to w.
func NewReporter(w io.Writer) *Reporter { return &Reporter{enc: json.NewEncoder(w)} }

// Emit writes r as one line. Write errors are ignored: a reader that went
// away cannot be told.
func (r *Reporter) Emit(rep Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.enc.Encode(rep)
}

// Every emits fn() every d until ctx is done.
func (r *Reporter) Every(ctx context.Context, d time.Duration, fn func() Report) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Emit(fn())
		}
	}
}
