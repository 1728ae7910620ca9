package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// fleet is the state of every service as a WatchPins stream built it.
type fleet struct {
	rev      int64
	services map[string]*rollpinv1.ServiceState
}

// apply merges one update into f: a snapshot replaces everything.
func (f *fleet) apply(u *rollpinv1.PinUpdate) {
	if u.GetSnapshot() || f.services == nil {
		f.services = map[string]*rollpinv1.ServiceState{}
	}
	for _, st := range u.GetServices() {
		f.services[st.GetService()] = st
	}
	for _, name := range u.GetRemoved() {
		delete(f.services, name)
	}
	f.rev = u.GetRevision()
}

// sorted returns the services of f sorted by name.
func (f *fleet) sorted() []*rollpinv1.ServiceState {
	names := make([]string, 0, len(f.services))
	for n := range f.services {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*rollpinv1.ServiceState, len(names))
	for i, n := range names {
		out[i] = f.services[n]
	}
	return out
}

// follow streams WatchPins and calls fn with every update until ctx ends
// (nil) or fn fails (its error). When the stream breaks, or pind is not
// reachable yet, it retries with backoff across --endpoints and resumes
// from the last revision; it says once on stderr that it lost pind, and
// once that it is back, instead of a line per attempt. An error that no
// retry can fix (a refusal) ends it.
func (a *app) follow(ctx context.Context, fn func(*rollpinv1.PinUpdate) error) error {
	c, err := a.pind()
	if err != nil {
		return err
	}
	var rev int64
	delay := 100 * time.Millisecond
	lost := false
	for {
		stream, err := c.WatchPins(ctx, &rollpinv1.WatchPinsRequest{StartRevision: rev})
		for err == nil {
			var resp *rollpinv1.WatchPinsResponse
			resp, err = stream.Recv()
			if err != nil {
				break
			}
			if lost {
				fmt.Fprintf(a.Err, "pindctl: pind is back; resumed at revision %d\n", resp.GetUpdate().GetRevision())
				lost = false
			}
			if ferr := fn(resp.GetUpdate()); ferr != nil {
				return ferr
			}
			rev = resp.GetUpdate().GetRevision()
			delay = 100 * time.Millisecond
		}
		if ctx.Err() != nil {
			return nil
		}
		if _, ok := ctx.Deadline(); ok && status.Code(err) == codes.DeadlineExceeded {
			// pind enforces the caller's deadline too, and may end the
			// stream a moment before the caller's own timer fires.
			<-ctx.Done()
			return nil
		}
		if !retryable(err) {
			return a.rpcError("watch the pins", err)
		}
		if !lost {
			if rev == 0 {
				fmt.Fprintf(a.Err, "pindctl: pind is not reachable (%s); retrying until it is\n", status.Convert(err).Message())
			} else {
				fmt.Fprintf(a.Err, "pindctl: lost pind (%s); reconnecting from revision %d\n", status.Convert(err).Message(), rev)
			}
			lost = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
