package fleet

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/interceptor"
	"github.com/rollpin/rollpin/pinsvc/pinclient"
)

// CallTimeout bounds one call; calls wait for a ready connection.
const CallTimeout = 15 * time.Second

// stopGrace is how long a stopping client lets its calls in flight run.
const stopGrace = 5 * time.Second

// Client is what the calls of a load client share: its id, the pins that cap
// it, the counters its calls are classified into, and the context every call
// runs under.
type Client struct {
	ID    string
	Pins  interceptor.PinSource
	Tally *Tally

	// callCtx is the parent of every call (nil: context.Background()): not
	// the workers' context, so that a client told to stop finishes its
	// sequences; RunClient cancels it a few seconds after the stop, so that
	// a client whose servers are gone does not linger.
	callCtx context.Context
}

// callContext returns the context of one call, bounded by CallTimeout.
func (c *Client) callContext() (context.Context, context.CancelFunc) {
	parent := c.callCtx
	if parent == nil {
		parent = context.Background()
	}
	return context.WithTimeout(parent, CallTimeout)
}

// Call runs one unary call of c with its own timeout, waiting for a ready
// connection.
func Call[Req, Resp any](c *Client, fn func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	ctx, cancel := c.callContext()
	defer cancel()
	return fn(ctx, req, grpc.WaitForReady(true))
}

// CallStream runs one server-streaming call of c with its own timeout,
// waiting for a ready connection, and returns every message received.
func CallStream[Req, Resp any](c *Client, fn func(context.Context, Req, ...grpc.CallOption) (grpc.ServerStreamingClient[Resp], error), req Req) ([]*Resp, error) {
	ctx, cancel := c.callContext()
	defer cancel()
	st, err := fn(ctx, req, grpc.WaitForReady(true))
	if err != nil {
		return nil, err
	}
	var got []*Resp
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return nil, err
		}
		got = append(got, m)
	}
}

// Record classifies one call: err != nil is a failure; a non-empty mismatch
// means the answer lost meaning. It reports whether the call was OK.
func (c *Client) Record(method string, err error, mismatch string) bool {
	c.Tally.Inc(Calls)
	switch {
	case err != nil:
		c.Tally.Fail(Failed, fmt.Sprintf("%s: %v", method, err))
		return false
	case mismatch != "":
		c.Tally.Fail(Lost, fmt.Sprintf("%s: %s", method, mismatch))
		return false
	}
	c.Tally.Inc(OK)
	return true
}

// RecordRefusal classifies a call that every server must refuse with
// FAILED_PRECONDITION: that refusal is OK, success is lost meaning (lost
// says what was lost), any other error a failure. It reports whether the
// call was refused as it must.
func (c *Client) RecordRefusal(method string, err error, lost string) bool {
	c.Tally.Inc(Calls)
	switch status.Code(err) {
	case codes.FailedPrecondition:
		c.Tally.Inc(OK)
		return true
	case codes.OK:
		c.Tally.Fail(Lost, lost)
	default:
		c.Tally.Fail(Failed, fmt.Sprintf("%s: %v", method, err))
	}
	return false
}

// Refused records a call refused with FAILED_PRECONDITION while the cap did
// not allow what it asked (allowed is false), as designed. It reports
// whether err was such a refusal.
func (c *Client) Refused(allowed bool, err error) bool {
	if allowed || status.Code(err) != codes.FailedPrecondition {
		return false
	}
	c.Tally.Inc(Calls)
	c.Tally.Inc(Refused)
	return true
}

// Allows14 reports whether the current cap of the service lets 1.4 features
// through.
func (c *Client) Allows14() bool { return Allows14(c.Pins.Cap(Service)) }

// CapText is the cap pins hold for the example's service, or "" when
// uncapped.
func CapText(pins interceptor.PinSource) string {
	if m, ok := pins.Cap(Service); ok {
		return m.String()
	}
	return ""
}

// Conn is what a client process holds while it runs: a pins watcher, its
// counters and its server slots dialed with the client interceptors.
type Conn struct {
	Pins  *pinclient.Client
	Tally *Tally
	Slots *Slots
}

// Connect watches the pins of the pind endpoints (comma-separated) and
// dials the server slots (comma-separated addresses), counting what the
// interceptors change into a new Tally. The caller closes the Conn.
func Connect(ctx context.Context, pind, slots string, log *slog.Logger) (*Conn, error) {
	pins, err := WatchPins(ctx, strings.Split(pind, ","), log)
	if err != nil {
		return nil, err
	}
	tally := &Tally{}
	s, err := DialSlots(strings.Split(slots, ","), pins, NewObserver(tally), log)
	if err != nil {
		pins.Close()
		return nil, err
	}
	return &Conn{Pins: pins, Tally: tally, Slots: s}, nil
}

// Close closes the slots, then the pins watcher.
func (c *Conn) Close() {
	c.Slots.Close()
	c.Pins.Close()
}

// Sequence runs one sequence of calls of c on connection cc: owner is unique
// to the sequence. It classifies its calls into c.Tally.
type Sequence func(c *Client, cc *grpc.ClientConn, r *rand.Rand, owner string)

// RunClient is the "client" subcommand of a binary of API version build: it
// parses the client flags (-pind, -id, -slots, -workers, -pause, -report),
// runs workers that each repeat sequences on a slot until ctx is done or
// stdin says stop, obeys the slot commands on stdin (see Commands), and
// reports on stdout periodically, at each drained slot and at the end.
func RunClient(ctx context.Context, args []string, log *slog.Logger, build string, seq Sequence) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	pind := fs.String("pind", "127.0.0.1:7070", "pind endpoints, comma-separated")
	id := fs.String("id", "client", "client id")
	slotList := fs.String("slots", "", "server addresses, comma-separated (slot i is the i-th)")
	workers := fs.Int("workers", 2, "concurrent call sequences")
	pause := fs.Duration("pause", 10*time.Millisecond, "pause between two sequences of a worker")
	every := fs.Duration("report", 250*time.Millisecond, "report period")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := Connect(ctx, *pind, *slotList, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	rep := NewReporter(os.Stdout)
	report := func(kind string) Report {
		return Report{Kind: kind, Role: "client", ID: *id, Build: build, Cap: CapText(conn.Pins),
			Counts: conn.Tally.Counts(), Errors: conn.Tally.Errors()}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	callCtx, hardStop := context.WithCancel(context.Background())
	defer hardStop()
	context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, hardStop) })
	go Commands(ctx, os.Stdin, conn.Slots, func(slot int) {
		r := report(KindDrained)
		r.Slot = slot
		rep.Emit(r)
	}, cancel)
	go rep.Every(ctx, *every, func() Report { return report(KindClient) })

	c := &Client{ID: *id, Pins: conn.Pins, Tally: conn.Tally, callCtx: callCtx}
	var wg sync.WaitGroup
	for n := range *workers {
		wg.Go(func() { c.worker(ctx, conn.Slots, n, *pause, seq) })
	}
	wg.Wait()
	rep.Emit(report(KindFinal))
	return nil
}

// worker runs sequences on the slots until ctx is done.
func (c *Client) worker(ctx context.Context, slots *Slots, n int, pause time.Duration, seq Sequence) {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(n)))
	for i := 0; ctx.Err() == nil; i++ {
		cc, release, err := slots.Acquire(r)
		if err != nil {
			Sleep(ctx, 20*time.Millisecond)
			continue
		}
		seq(c, cc, r, fmt.Sprintf("%s-w%d-%d", c.ID, n, i))
		release()
		Sleep(ctx, pause)
	}
}

// Sleep waits d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
