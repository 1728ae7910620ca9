package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func newWatchCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "watch",
		Short: "Print a line for every change of a pin, a floor or the instances, until interrupted",
		Long: `watch streams the changes pind sees. It first prints the state of every
service, then one line per service that changes:

  rev 42 acme.volume.v1.VolumeService instances=1.3:3->1.3:2,1.4:1 floor=1.3
  rev 57 acme.volume.v1.VolumeService pin=1.3->1.4 by=controller raise=settling->up-to-date

Each line starts with the etcd revision of the change. With -o json every
update is one JSON object per line; with -o yaml one YAML document each.
When the connection to pind drops, or pind is not up yet, watch retries (any
of --endpoints) and resumes from the last revision it printed; it says on
stderr when it lost pind and when it is back. Ctrl-C ends it.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.watch(cmd.Context())
		},
	}
}

// watch follows WatchPins until ctx ends (nil) or pind refuses the watch.
// While pind is unreachable — at start too — it retries, saying once on
// stderr that it lost pind and once that it is back.
func (a *app) watch(ctx context.Context) error {
	w := &watchPrinter{a: a, known: map[string]*rollpinv1.ServiceState{}}
	return a.follow(ctx, func(u *rollpinv1.PinUpdate) error {
		return w.print(&rollpinv1.WatchPinsResponse{Update: u})
	})
}

// retryable reports whether a watch ended by err should be reopened.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Internal, codes.Unknown, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}

// watchPrinter renders watch updates, remembering the last state of every
// service so that a line shows only what changed.
type watchPrinter struct {
	a     *app
	known map[string]*rollpinv1.ServiceState
	seen  bool // a snapshot has been printed
}

func (w *watchPrinter) print(resp *rollpinv1.WatchPinsResponse) error {
	switch w.a.output {
	case "json":
		b, err := marshalJSON(resp, false)
		if err != nil {
			return fmt.Errorf("encode JSON: %w", err)
		}
		_, err = fmt.Fprintf(w.a.Out, "%s\n", b)
		return err
	case "yaml":
		b, err := toYAML(resp)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w.a.Out, "---\n%s", b)
		return err
	}
	for _, l := range w.lines(resp.GetUpdate()) {
		if _, err := fmt.Fprintln(w.a.Out, l); err != nil {
			return err
		}
	}
	return nil
}

// lines returns the text lines for one update and records its state.
func (w *watchPrinter) lines(u *rollpinv1.PinUpdate) []string {
	prefix := "rev " + strconv.FormatInt(u.GetRevision(), 10) + " "
	var out []string
	if u.GetSnapshot() {
		old := w.known
		w.known = map[string]*rollpinv1.ServiceState{}
		for _, st := range u.GetServices() {
			w.known[st.GetService()] = st
			if !w.seen {
				out = append(out, prefix+st.GetService()+" "+fullFields(st))
			} else if l := changeLine(old[st.GetService()], st); l != "" {
				out = append(out, prefix+st.GetService()+" "+l)
			}
		}
		if w.seen {
			var gone []string
			for name := range old {
				if _, ok := w.known[name]; !ok {
					gone = append(gone, name)
				}
			}
			slices.Sort(gone)
			for _, name := range gone {
				out = append(out, prefix+name+" removed")
			}
		} else if len(u.GetServices()) == 0 {
			out = append(out, prefix+"no services yet")
		}
		w.seen = true
		return out
	}
	for _, st := range u.GetServices() {
		old := w.known[st.GetService()]
		w.known[st.GetService()] = st
		if l := changeLine(old, st); l != "" {
			out = append(out, prefix+st.GetService()+" "+l)
		}
	}
	for _, name := range u.GetRemoved() {
		delete(w.known, name)
		out = append(out, prefix+name+" removed")
	}
	return out
}

// watchFields are the properties of a service a watch line reports, in
// order. The raise is the full explanation when full, else only its state
// (a change line stays short; pindctl status explains).
func watchFields(st *rollpinv1.ServiceState, full bool) [][2]string {
	raise := raiseStateText(st.GetRaise().GetState())
	if full {
		raise = raiseText(st)
	}
	return [][2]string{
		{"pin", shortManifest(st.GetService(), st.GetPin().GetManifest())},
		{"floor", shortManifest(st.GetService(), st.GetFloor())},
		{"mode", modeText(st)},
		{"hold", holdText(st)},
		{"instances", strings.ReplaceAll(versionsText(st), " ", ",")},
		{"raise", raise},
	}
}

// quoteIfSpace quotes s when it holds a space, so a line stays parseable.
func quoteIfSpace(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return strconv.Quote(s)
	}
	return s
}

// fullFields renders every property of st.
func fullFields(st *rollpinv1.ServiceState) string {
	var parts []string
	for _, kv := range watchFields(st, true) {
		parts = append(parts, kv[0]+"="+quoteIfSpace(kv[1]))
	}
	return strings.Join(parts, " ")
}

// changeLine renders what changed from old to st ("" when nothing visible
// did). A service seen for the first time is shown in full.
func changeLine(old, st *rollpinv1.ServiceState) string {
	if old == nil {
		return "new " + fullFields(st)
	}
	was, now := watchFields(old, false), watchFields(st, false)
	var parts []string
	for i := range now {
		if was[i][1] == now[i][1] {
			continue
		}
		parts = append(parts, now[i][0]+"="+quoteIfSpace(was[i][1])+"->"+quoteIfSpace(now[i][1]))
		if now[i][0] == "pin" && st.GetPin().GetUpdatedBy() != "" {
			parts = append(parts, "by="+quoteIfSpace(st.GetPin().GetUpdatedBy()))
		}
	}
	return strings.Join(parts, " ")
}
