package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func newHoldCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "hold SERVICE --reason TEXT",
		Short: "Freeze the automatic raise of a pin",
		Long: `hold stops pind from raising the pin of SERVICE, even once every instance
runs the new version: new instances keep talking the old version to each
other until the hold is released. Use it to keep a roll-back possible while
the new version proves itself. Operators can still set the pin by hand.`,
		Example: `  pindctl hold VolumeService --reason "canary 1.4 until Monday"`,
		Args:    exactArgs(1, "SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return usagef("hold needs --reason: say why the pin is frozen, for the next operator")
			}
			full, st, c, err := a.lookupForWrite(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			resp, err := c.Hold(ctx, &rollpinv1.HoldRequest{Service: full, Reason: reason, ExpectedRevision: st.GetPinRevision()})
			if err != nil {
				return a.rpcError("hold "+full, err)
			}
			if ok, err := a.printStructured(resp); ok {
				return err
			}
			_, err = fmt.Fprintf(a.Out, "held %s at %s: %s\nautomatic raises are frozen until `pindctl release %s`\n",
				full, shortManifest(full, resp.GetState().GetPin().GetManifest()), reason, args[0])
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the pin is frozen (required)")
	return cmd
}

func newReleaseCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release SERVICE | release record|list|show ...",
		Short: "Remove the hold of a pin (automatic raises resume); record, list and show named releases",
		Long: `release SERVICE removes the hold of the pin of SERVICE: automatic raises
resume (pin lower holds the pin; this undoes that hold once the fix ships).

release record, list and show manage named releases: manifests stored in
pind under a name (pindctl pin set SERVICE --release NAME uses them).`,
		Args: exactArgs(1, "SERVICE (or a subcommand: record, list, show)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			full, st, c, err := a.lookupForWrite(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			resp, err := c.Release(ctx, &rollpinv1.ReleaseRequest{Service: full, ExpectedRevision: st.GetPinRevision()})
			if err != nil {
				return a.rpcError("release "+full, err)
			}
			if ok, err := a.printStructured(resp); ok {
				return err
			}
			if st.GetPin().GetHold() == nil {
				fmt.Fprintf(a.Out, "%s was not held; nothing to do\n", full)
				return nil
			}
			next := "automatic raises resume"
			if resp.GetState().GetPin().GetMode() == rollpinv1.PinMode_PIN_MODE_MANUAL {
				next = "the mode is manual: only an operator raises the pin (pindctl mode " + args[0] + " auto)"
			}
			_, err = fmt.Fprintf(a.Out, "released %s: %s\n", full, next)
			return err
		},
	}
	addReleaseSubcommands(a, cmd)
	return cmd
}

func newModeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "mode SERVICE auto|manual",
		Short: "Choose who raises the pin: pind (auto) or an operator (manual)",
		Long: `mode switches how the pin of SERVICE rises. auto (the default): pind raises
the pin to the floor once every live instance runs the new version and the
fleet has settled. manual: only an operator raises it, with pindctl pin set.`,
		Args: exactArgs(2, "SERVICE and auto|manual"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var mode rollpinv1.PinMode
			switch strings.ToLower(args[1]) {
			case "auto":
				mode = rollpinv1.PinMode_PIN_MODE_AUTO
			case "manual":
				mode = rollpinv1.PinMode_PIN_MODE_MANUAL
			default:
				return usagef("unknown mode %q: use auto or manual", args[1])
			}
			full, st, c, err := a.lookupForWrite(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			resp, err := c.SetMode(ctx, &rollpinv1.SetModeRequest{Service: full, Mode: mode, ExpectedRevision: st.GetPinRevision()})
			if err != nil {
				return a.rpcError("set the mode of "+full, err)
			}
			if ok, err := a.printStructured(resp); ok {
				return err
			}
			before := modeText(st)
			if before == "-" {
				before = "auto"
			}
			after := modeText(resp.GetState())
			if after == "-" {
				after = strings.ToLower(args[1])
			}
			if before == after {
				_, err = fmt.Fprintf(a.Out, "mode of %s is already %s; nothing to do\n", full, after)
				return err
			}
			_, err = fmt.Fprintf(a.Out, "mode of %s: %s -> %s\n", full, before, after)
			return err
		},
	}
}

// lookupForWrite resolves name as lookup does and returns, with the full
// name and its state (whose pin revision the write must expect), the
// PinService client to send the write to.
func (a *app) lookupForWrite(ctx context.Context, name string) (string, *rollpinv1.ServiceState, rollpinv1.PinServiceClient, error) {
	full, st, err := a.lookup(ctx, name)
	if err != nil {
		return "", nil, nil, err
	}
	c, err := a.pind()
	if err != nil {
		return "", nil, nil, err
	}
	return full, st, c, nil
}
