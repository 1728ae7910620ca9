package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// addCompletions registers dynamic shell completion (pindctl completion
// bash|zsh|fish|powershell): service names from pind for the commands that
// take a SERVICE, the modes of mode, and the formats of -o.
func addCompletions(a *app, root *cobra.Command) {
	root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	services := func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			if cmd.Name() == "mode" && len(args) == 1 {
				return []cobra.Completion{"auto", "manual"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return a.completeServices(cmd, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	for _, path := range [][]string{{"status"}, {"pin", "set"}, {"pin", "lower"}, {"hold"}, {"release"}, {"mode"}, {"instances"}, {"wait"}, {"history"}, {"expect"}} {
		cmd, _, err := root.Find(path)
		if err == nil && cmd != root {
			cmd.ValidArgsFunction = services
		}
	}
}

// completeServices lists the services pind knows whose full name, or a
// suffix at a dot, starts with prefix. Errors complete nothing.
func (a *app) completeServices(cmd *cobra.Command, prefix string) []cobra.Completion {
	if err := a.applyEnv(cmd.Root().PersistentFlags()); err != nil {
		return nil
	}
	c, err := a.pind()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	resp, err := c.GetPins(ctx, &rollpinv1.GetPinsRequest{})
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, s := range resp.GetServices() {
		name := s.GetService()
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
			continue
		}
		if short := name[strings.LastIndexByte(name, '.')+1:]; prefix != "" && strings.HasPrefix(short, prefix) {
			out = append(out, short)
		}
	}
	return out
}
