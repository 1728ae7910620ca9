package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// parseSince reads --since: a duration back from now ("24h", "90m") or an
// RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, usagef("--since %q: give a positive duration (24h) or an RFC 3339 time", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usagef("--since %q: give a duration back from now (24h, 90m) or an RFC 3339 time (2026-03-02T09:00:00Z)", s)
	}
	return t, nil
}

func newHistoryCmd(a *app) *cobra.Command {
	var since string
	var limit int
	cmd := &cobra.Command{
		Use:   "history [SERVICE] [--since 24h]",
		Short: "Show who changed which pin, hold, mode or contract mark, when and why",
		Long: `history lists the changes pind recorded, oldest first: pins set, raised
and lowered (by operators or the controller), holds and releases, mode
switches and contract marks. Each line has the time, the etcd revision,
the writer's identity (a token name, a certificate subject, or
"controller") and the reason given.

pind keeps a bounded history (pind --history-max-entries and
--history-max-age). --since takes a duration back from now or an RFC 3339
time. With -o json or yaml the entries are printed as one
GetHistoryResponse.`,
		Example: `  pindctl history VolumeService --since 24h
  pindctl history -o json`,
		Args: maxArgs(1, "[SERVICE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &rollpinv1.GetHistoryRequest{PageSize: 1000}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				req.Since = timestamppb.New(t)
			}
			if limit < 0 {
				return usagef("--limit must not be negative, got %d", limit)
			}
			if len(args) == 1 {
				full, _, err := a.lookup(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				req.Service = full
			}
			entries, err := a.history(cmd.Context(), req, limit)
			if err != nil {
				return err
			}
			if ok, err := a.printStructured(&rollpinv1.GetHistoryResponse{Entries: entries}); ok {
				return err
			}
			if len(entries) == 0 {
				fmt.Fprintln(a.Err, "pindctl: no recorded changes")
			}
			return writeHistoryTable(a.Out, entries)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only changes since this long ago (24h) or this RFC 3339 time")
	cmd.Flags().IntVar(&limit, "limit", 0, "show only the newest N changes (0: all)")
	return cmd
}

// history reads every page of GetHistory; with limit > 0 it keeps the
// newest limit entries.
func (a *app) history(ctx context.Context, req *rollpinv1.GetHistoryRequest, limit int) ([]*rollpinv1.HistoryEntry, error) {
	c, err := a.pind()
	if err != nil {
		return nil, err
	}
	var out []*rollpinv1.HistoryEntry
	for {
		cctx, cancel := a.call(ctx)
		resp, err := c.GetHistory(cctx, req)
		cancel()
		if err != nil {
			return nil, a.rpcError("read the history", err)
		}
		out = append(out, resp.GetEntries()...)
		if limit > 0 && len(out) > limit {
			out = out[len(out)-limit:]
		}
		if resp.GetNextPageToken() == "" {
			return out, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// historyChange renders what an entry changed ("pin 1.3 -> 1.4", "hold").
func historyChange(e *rollpinv1.HistoryEntry) string {
	svc := e.GetService()
	switch e.GetKind() {
	case rollpinv1.HistoryKind_HISTORY_KIND_PIN:
		from := shortManifest(svc, e.GetFrom())
		if e.GetFrom() == "" {
			from = "none"
		}
		return "pin " + from + " -> " + shortManifest(svc, e.GetTo())
	case rollpinv1.HistoryKind_HISTORY_KIND_HOLD:
		return "hold"
	case rollpinv1.HistoryKind_HISTORY_KIND_RELEASE:
		return "release"
	case rollpinv1.HistoryKind_HISTORY_KIND_MODE:
		return "mode " + e.GetFrom() + " -> " + e.GetTo()
	case rollpinv1.HistoryKind_HISTORY_KIND_PIN_DELETED:
		return "pin deleted (was " + shortManifest(svc, e.GetFrom()) + ")"
	case rollpinv1.HistoryKind_HISTORY_KIND_CONTRACT:
		return "contract mark " + e.GetTrack() + " " + orDash(e.GetTo())
	case rollpinv1.HistoryKind_HISTORY_KIND_EXPECTED:
		return "expect " + orDash(e.GetFrom()) + " -> " + orDash(e.GetTo())
	case rollpinv1.HistoryKind_HISTORY_KIND_CONTRACT_DELETED:
		return "contract mark " + e.GetTrack() + " removed"
	}
	return strings.ToLower(strings.TrimPrefix(e.GetKind().String(), "HISTORY_KIND_"))
}

// writeHistoryTable renders history entries as a table.
func writeHistoryTable(w interface{ Write([]byte) (int, error) }, entries []*rollpinv1.HistoryEntry) error {
	tw := newTable(w)
	row(tw, "TIME", "REV", "SERVICE", "CHANGE", "BY", "REASON")
	for _, e := range entries {
		row(tw, formatTime(e.GetAt()), strconv.FormatInt(e.GetRevision(), 10), orDash(e.GetService()),
			historyChange(e), orDash(e.GetBy()), orDash(e.GetReason()))
	}
	return tw.Flush()
}
