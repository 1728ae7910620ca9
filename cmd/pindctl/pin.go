package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// pinFlags are the options of pin set and pin lower.
type pinFlags struct {
	force  bool
	dryRun bool
	reason string
	// forcePastContract lowers below a contract mark.
	forcePastContract bool
	// hold asks pind to hold the pin in the same write when it lowers it.
	hold bool
	// release names a recorded release whose versions the pin takes.
	release string
}

func newPinCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pin",
		Short: "Raise or lower the pin of a service",
		Args:  noSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPinSetCmd(a), newPinLowerCmd(a))
	return cmd
}

func newPinSetCmd(a *app) *cobra.Command {
	var f pinFlags
	cmd := &cobra.Command{
		Use:   "set SERVICE VERSION|MANIFEST | set SERVICE --release NAME",
		Short: "Set the pin of a service (raise or lower it)",
		Long: `pin set writes the pin of SERVICE. VERSION (MAJOR.MINOR) applies to the
service's own track, its proto package; a MANIFEST (track=MAJOR.MINOR,...)
sets several tracks.

Raising the pin above the floor (the oldest version a live instance runs) is
refused: senders would speak a version those instances do not understand.
Wait for the upgrade, or pass --force. --dry-run shows what would change and
which instances block, without writing.

--release NAME sets the pin to what the recorded release NAME speaks, on
the tracks the service uses (its pin's and its instances'); other tracks of
the pin stay.

The write only succeeds if the pin has not changed since pindctl read it;
otherwise run the command again.`,
		Example: `  pindctl pin set VolumeService 1.4 --dry-run
  pindctl pin set acme.volume.v1.VolumeService 1.4 --reason "upgrade done"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.release != "" {
				return exactArgs(1, "SERVICE with --release")(cmd, args)
			}
			return exactArgs(2, "SERVICE and VERSION|MANIFEST")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.release != "" {
				return a.setPinRelease(cmd.Context(), args[0], f)
			}
			return a.setPin(cmd.Context(), args[0], args[1], f, false)
		},
	}
	cmd.Flags().StringVar(&f.release, "release", "", "set the pin to what the recorded release NAME speaks (pindctl release list)")
	cmd.Flags().BoolVar(&f.force, "force", false, "raise above the floor, or create the pin of a service pind does not know")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "report what would change and which instances block, without writing")
	cmd.Flags().StringVar(&f.reason, "reason", "", "why; recorded with the pin and in pind's log")
	return cmd
}

func newPinLowerCmd(a *app) *cobra.Command {
	var f pinFlags
	var noHold bool
	cmd := &cobra.Command{
		Use:   "lower SERVICE VERSION|MANIFEST",
		Short: "Lower the pin of a service (the roll-back path); never raises",
		Long: `pin lower moves the pin of SERVICE down, so that senders stop using what
the newer version added: the first step of a roll-back, before old binaries
come back. It refuses any target above the current pin on any track (use
pin set to raise). Lowering is always allowed by pind and is logged.

The same write holds the pin (the hold's reason is --reason), so that pind
does not raise it again once the fleet runs the newer version and has
settled: the roll-back stays rolled back. pindctl release SERVICE resumes
automatic raises. --no-hold lowers without holding (in AUTO mode pind then
raises the pin again after the settle window).`,
		Example: `  pindctl pin lower VolumeService 1.3 --reason "roll back 1.4: bad latency"`,
		Args:    exactArgs(2, "SERVICE and VERSION|MANIFEST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.hold = !noHold
			return a.setPin(cmd.Context(), args[0], args[1], f, true)
		},
	}
	cmd.Flags().BoolVar(&noHold, "no-hold", false, "do not hold the pin: pind may raise it again once the fleet has settled")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "report what would change, without writing")
	cmd.Flags().BoolVar(&f.forcePastContract, "force-past-contract", false, "lower below a contract mark (the database has contracted: only after restoring the schema)")
	cmd.Flags().StringVar(&f.reason, "reason", "", "why; recorded with the pin and in pind's log")
	return cmd
}

// setPin implements pin set and pin lower.
func (a *app) setPin(ctx context.Context, name, arg string, f pinFlags, lowerOnly bool) error {
	// Check the target's syntax before contacting pind.
	if _, err := parseTarget("syntax.check.Service", arg, backport.Manifest{}); err != nil {
		return err
	}
	full, st, err := a.lookup(ctx, name)
	if err != nil {
		return err
	}
	curText := st.GetPin().GetManifest()
	cur, err := backport.ParseManifest(curText)
	if err != nil {
		return fmt.Errorf("the pin of %s is unreadable (%v): overwrite it with `pindctl pin set %s MANIFEST --force`", full, err, full)
	}
	target, err := parseTarget(full, arg, cur)
	if err != nil {
		return err
	}
	if lowerOnly {
		if curText == "" {
			return fmt.Errorf("refused: %s has no pin to lower; use `pindctl pin set` to create one", full)
		}
		if up := target.NewerThan(cur); len(up) > 0 {
			return fmt.Errorf("refused: %s would raise the pin of %s (now %s) on %s: pin lower never raises; use `pindctl pin set` to raise",
				shortManifest(full, target.String()), full, shortManifest(full, curText), entriesText(up))
		}
		var uncapped []string
		for _, e := range cur.Entries() {
			if _, ok := target.Get(e.Track); !ok {
				uncapped = append(uncapped, e.Track)
			}
		}
		if len(uncapped) > 0 {
			return fmt.Errorf("refused: %s leaves out %s, which the pin of %s (now %s) caps: dropping a track uncaps it, which raises; name every track of the pin",
				target, strings.Join(uncapped, ","), full, curText)
		}
	}
	c, err := a.pind()
	if err != nil {
		return err
	}
	cctx, cancel := a.call(ctx)
	defer cancel()
	resp, err := c.SetPin(cctx, &rollpinv1.SetPinRequest{
		Service:           full,
		Manifest:          arg,
		ExpectedRevision:  st.GetPinRevision(),
		Force:             f.force,
		DryRun:            f.dryRun,
		Reason:            f.reason,
		ForcePastContract: f.forcePastContract,
		HoldOnLower:       f.hold,
	})
	if err != nil {
		if refusal := floorRefusal(full, st, target, err); refusal != nil {
			return refusal
		}
		return a.rpcError("set the pin of "+full, err)
	}
	if ok, err := a.printStructured(resp); ok {
		return err
	}
	return writeSetPinResult(a.Out, full, curText, target, f, resp)
}

// entriesText renders manifest entries as "track=1.4,track=2.0".
func entriesText(es []backport.Entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Track + "=" + e.Version.String()
	}
	return strings.Join(parts, ",")
}

// blockingInstances describes, grouped by manifest ("vol-a,vol-b run 1.3"),
// the live instances of st whose manifests are below target on a track they
// share.
func blockingInstances(st *rollpinv1.ServiceState, target backport.Manifest) (groups []string) {
	byManifest := map[string][]string{}
	var order []string
	for _, in := range st.GetInstances() {
		m, err := backport.ParseManifest(in.GetManifest())
		if err != nil || m.Covers(target) {
			continue
		}
		if _, seen := byManifest[in.GetManifest()]; !seen {
			order = append(order, in.GetManifest())
		}
		byManifest[in.GetManifest()] = append(byManifest[in.GetManifest()], in.GetId())
	}
	for _, m := range order {
		list := byManifest[m]
		slices.Sort(list)
		verb := "run"
		if len(list) == 1 {
			verb = "runs"
		}
		groups = append(groups, fmt.Sprintf("%s %s %s", strings.Join(list, ","), verb, shortManifest(st.GetService(), m)))
	}
	return groups
}

// floorRefusal turns pind's FAILED_PRECONDITION answer to a raise into an
// explanation naming the floor and the instances that hold it, or returns
// nil when err is something else.
func floorRefusal(full string, st *rollpinv1.ServiceState, target backport.Manifest, err error) error {
	if status.Code(err) != codes.FailedPrecondition {
		return nil
	}
	if st == nil {
		return fmt.Errorf("refused: pind knows no service %s (%s): check the name with `pindctl status`, or --force to create its pin", full, status.Convert(err).Message())
	}
	groups := blockingInstances(st, target)
	if len(groups) == 0 {
		return nil
	}
	noun := "instances"
	if len(groups) == 1 && !strings.Contains(groups[0], ",") {
		noun = "instance"
	}
	return fmt.Errorf("refused: floor of %s is %s because %s %s; wait for the upgrade, or --force",
		full, shortManifest(full, st.GetFloor()), noun, strings.Join(groups, ", "))
}

// writeSetPinResult reports the outcome of pin set/lower as text.
func writeSetPinResult(w io.Writer, full, before string, target backport.Manifest, f pinFlags, resp *rollpinv1.SetPinResponse) error {
	after := resp.GetState().GetPin().GetManifest()
	if after == "" {
		after = target.String()
	}
	from, to := shortManifest(full, before), shortManifest(full, after)
	if before == "" {
		from = "none"
	}
	switch {
	case f.dryRun && resp.GetChanged():
		fmt.Fprintf(w, "dry run: the pin of %s would go from %s to %s\n", full, from, to)
	case f.dryRun:
		fmt.Fprintf(w, "dry run: the pin of %s is %s; nothing would change\n", full, from)
	case resp.GetChanged():
		fmt.Fprintf(w, "pin of %s: %s -> %s\n", full, from, to)
		if h := resp.GetState().GetPin().GetHold(); f.hold && h != nil {
			fmt.Fprintf(w, "held: %s\nautomatic raises are frozen until `pindctl release %s`\n", h.GetReason(), full)
		}
	default:
		fmt.Fprintf(w, "pin of %s is already %s; nothing to do\n", full, from)
	}
	if b := resp.GetBlocking(); len(b) > 0 {
		parts := make([]string, len(b))
		for i, in := range b {
			parts[i] = fmt.Sprintf("%s (%s)", in.GetId(), shortManifest(full, in.GetManifest()))
		}
		fmt.Fprintf(w, "instances below %s: %s\n", shortManifest(full, target.String()), strings.Join(parts, ", "))
		if f.dryRun && !f.force {
			fmt.Fprintln(w, "raising now needs --force; or wait for these instances to upgrade")
		}
	}
	return nil
}
