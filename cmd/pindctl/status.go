package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func newStatusCmd(a *app) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "status [SERVICE]",
		Short: "Show where every service stands: pin, floor, instances, upgrade progress",
		Long: `status prints one row per service:

  PIN        the stored cap (a bare version when it covers only the service's own track)
  FLOOR      the oldest version any live instance runs; senders use min(PIN, FLOOR)
  MODE       auto (pind raises the pin once the fleet has settled) or manual
  INSTANCES  live instances per version, oldest first (1.3:2 1.4:1)
  PROGRESS   instances on the newest version (2/3 at 1.4)
  HOLD       why automatic raises are frozen, and by whom
  RAISE      why the pin has (not) risen, and which instances block it

SERVICE may be a full name or a unique suffix (VolumeService).

--watch follows pind's stream of changes and prints the table again on every
change (on a terminal, in place), until interrupted; with -o json one
GetPinsResponse per line.`,
		Args: maxArgs(1, "[SERVICE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if watch {
				var name string
				if len(args) == 1 {
					name = args[0]
				}
				return a.watchStatus(cmd.Context(), name)
			}
			snap, err := a.snapshot(cmd.Context())
			if err != nil {
				return err
			}
			if len(args) == 1 {
				full, err := resolveService(args[0], serviceNames(snap.GetServices()))
				if err != nil {
					return err
				}
				var keep []*rollpinv1.ServiceState
				for _, s := range snap.GetServices() {
					if s.GetService() == full {
						keep = append(keep, s)
					}
				}
				if len(keep) == 0 {
					return fmt.Errorf("pind knows no service %s: check the name with `pindctl status`", full)
				}
				snap = &rollpinv1.GetPinsResponse{Services: keep, Revision: snap.GetRevision()}
			}
			if ok, err := a.printStructured(snap); ok {
				return err
			}
			if len(snap.GetServices()) == 0 {
				fmt.Fprintln(a.Err, "pindctl: pind knows no service yet: services appear when their instances register")
			}
			// The RELEASE column appears once releases are recorded (a pind
			// without them, or too old to know them, shows none).
			var rels []*rollpinv1.Release
			if c, err := a.pind(); err == nil {
				cctx, cancel := a.call(cmd.Context())
				if r, err := c.ListReleases(cctx, &rollpinv1.ListReleasesRequest{}); err == nil {
					rels = r.GetReleases()
				}
				cancel()
			}
			return a.withContracts(cmd.Context(), writeStatusTableWith(a.Out, snap.GetServices(), rels))
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "print the table again on every change, until interrupted")
	return cmd
}

// writeStatusTable renders states as the status table.
func writeStatusTable(w io.Writer, states []*rollpinv1.ServiceState) error {
	return writeStatusTableWith(w, states, nil)
}

// writeStatusTableWith renders states as the status table, with a RELEASE
// column (the newest of rels each pin covers) when rels is not empty.
func writeStatusTableWith(w io.Writer, states []*rollpinv1.ServiceState, rels []*rollpinv1.Release) error {
	tw := newTable(w)
	head := []string{"SERVICE", "PIN", "FLOOR", "MODE", "INSTANCES", "PROGRESS", "HOLD", "RAISE"}
	if len(rels) > 0 {
		head = slices.Insert(head, 2, "RELEASE")
	}
	row(tw, head...)
	for _, st := range states {
		cells := []string{
			st.GetService(),
			shortManifest(st.GetService(), st.GetPin().GetManifest()),
			shortManifest(st.GetService(), st.GetFloor()),
			modeText(st),
			versionsText(st),
			progressText(st),
			holdText(st),
			raiseText(st),
		}
		if len(rels) > 0 {
			cells = slices.Insert(cells, 2, newestCovered(st, rels))
		}
		row(tw, cells...)
	}
	return tw.Flush()
}
