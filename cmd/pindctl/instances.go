package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func newInstancesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "instances [SERVICE]",
		Short: "List the live instances and the version each runs",
		Long: `instances lists the live instances registered with pind, by service then id:
the manifest each runs (a bare version for the service's own track), its build,
address and start time. SERVICE may be a full name or a unique suffix.`,
		Args: maxArgs(1, "[SERVICE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			service := ""
			if len(args) == 1 {
				full, st, err := a.lookup(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if st == nil {
					return fmt.Errorf("pind knows no service %s: check the name with `pindctl status`", full)
				}
				service = full
			}
			c, err := a.pind()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			resp, err := c.ListInstances(ctx, &rollpinv1.ListInstancesRequest{Service: service})
			if err != nil {
				return a.rpcError("list instances", err)
			}
			if ok, err := a.printStructured(resp); ok {
				return err
			}
			return writeInstancesTable(a.Out, resp.GetInstances())
		},
	}
}

// writeInstancesTable renders instances as a table.
func writeInstancesTable(w io.Writer, insts []*rollpinv1.Instance) error {
	tw := newTable(w)
	row(tw, "SERVICE", "INSTANCE", "VERSION", "BUILD", "ADDRESS", "STARTED")
	for _, in := range insts {
		row(tw,
			in.GetService(),
			in.GetId(),
			shortManifest(in.GetService(), in.GetManifest()),
			orDash(in.GetBuild()),
			orDash(in.GetAddress()),
			formatTime(in.GetStartedAt()),
		)
	}
	return tw.Flush()
}
