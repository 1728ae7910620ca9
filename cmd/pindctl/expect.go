package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func newExpectCmd(a *app) *cobra.Command {
	var allowRaise bool
	cmd := &cobra.Command{
		Use:   "expect SERVICE N [--allow-raise]",
		Short: "Set how many live instances a service should have (0 clears)",
		Long: `expect records that SERVICE should run N instances. While fewer are live,
status shows the missing ones (PROGRESS 2/3 at 1.4 (1 missing)) and pind does
not raise the pin: an old instance that crashed may come back, and raising
would fence it. --allow-raise lets pind raise anyway. N=0 clears it.`,
		Example: `  pindctl expect VolumeService 3`,
		Args:    exactArgs(2, "SERVICE and N"),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseUint(args[1], 10, 32)
			if err != nil {
				return usagef("N %q: give a number of instances (0 clears)", args[1])
			}
			full, st, c, err := a.lookupForWrite(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			resp, err := c.SetExpected(ctx, &rollpinv1.SetExpectedRequest{Service: full, ExpectedInstances: uint32(n), RaiseBelowExpected: allowRaise, ExpectedRevision: st.GetPinRevision()})
			if err != nil {
				return a.rpcError("set the expected instances of "+full, err)
			}
			if ok, err := a.printStructured(resp); ok {
				return err
			}
			if n == 0 {
				_, err = fmt.Fprintf(a.Out, "%s: no expected number of instances\n", full)
				return err
			}
			_, err = fmt.Fprintf(a.Out, "%s: expect %d instances; progress %s\n", full, n, progressText(resp.GetState()))
			return err
		},
	}
	cmd.Flags().BoolVar(&allowRaise, "allow-raise", false, "let pind raise the pin while fewer instances are live")
	return cmd
}
