package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// withContracts appends the contract marks to status's table output (a
// pind without contract marks support, or none recorded, adds nothing).
func (a *app) withContracts(ctx context.Context, tableErr error) error {
	if tableErr != nil {
		return tableErr
	}
	c, err := a.pind()
	if err != nil {
		return err
	}
	cctx, cancel := a.call(ctx)
	defer cancel()
	resp, err := c.ListContracts(cctx, &rollpinv1.ListContractsRequest{})
	if status.Code(err) == codes.Unimplemented {
		return nil
	}
	if err != nil {
		return a.rpcError("list contract marks", err)
	}
	return writeContracts(a.Out, resp.GetMarks())
}

// writeContracts renders the contract marks below the status table.
func writeContracts(w io.Writer, marks []*rollpinv1.ContractMark) error {
	if len(marks) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTRACT\tAFTER\tMIGRATION\tSTATE\tBY\tAT")
	for _, m := range marks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.GetTrack(), m.GetVersion(), m.GetMigration(),
			strings.ToLower(strings.TrimPrefix(m.GetState().String(), "CONTRACT_STATE_")), m.GetBy(), m.GetAt().AsTime().UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
