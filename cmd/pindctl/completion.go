package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// outputFormats are the values of -o.
var outputFormats = []cobra.Completion{
	cobra.CompletionWithDesc("table", "aligned columns"),
	cobra.CompletionWithDesc("json", "protojson, two-space indentation"),
	cobra.CompletionWithDesc("yaml", "the JSON as YAML"),
}

// pinModes are the modes `pindctl mode` takes.
var pinModes = []cobra.Completion{
	cobra.CompletionWithDesc("auto", "pind raises the pin once the fleet has upgraded"),
	cobra.CompletionWithDesc("manual", "only an operator raises the pin"),
}

// registerCompletions adds dynamic shell completion to the tree under root
// (`pindctl completion bash|zsh|fish|powershell` prints the script): the
// values of -o, and for every command whose first argument is SERVICE
// (read from its Use line) the services pind knows, asked with GetPins;
// mode's second argument completes to auto or manual.
func (a *app) registerCompletions(root *cobra.Command) {
	root.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return outputFormats, cobra.ShellCompDirectiveNoFileComp
	})
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.ValidArgsFunction != nil {
			return
		}
		fields := strings.Fields(c.Use)
		if len(fields) < 2 || strings.Trim(fields[1], "[]") != "SERVICE" {
			return
		}
		second := []cobra.Completion(nil)
		if len(fields) > 2 && fields[2] == "auto|manual" {
			second = pinModes
		}
		c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			switch len(args) {
			case 0:
				return a.completeService(cmd, toComplete)
			case 1:
				return second, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
	}
	walk(root)
}

// completeService lists the services pind knows that start with
// toComplete, by full name, or by the short name (the part after the last
// dot) when that is what the user began to type. The current pin is the
// description. Flags and PINDCTL_* variables choose the pind as for any
// command; when pind cannot be asked, nothing is offered.
func (a *app) completeService(cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if err := a.applyEnv(cmd.Root().PersistentFlags()); err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	snap, err := a.snapshot(cmd.Context())
	if err != nil {
		cobra.CompDebugln("pindctl: "+err.Error(), true)
		return nil, cobra.ShellCompDirectiveError | cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, st := range snap.GetServices() {
		name := st.GetService()
		desc := "pin " + shortManifest(name, st.GetPin().GetManifest())
		short := name[strings.LastIndexByte(name, '.')+1:]
		switch {
		case strings.HasPrefix(name, toComplete):
			out = append(out, cobra.CompletionWithDesc(name, desc))
		case !strings.Contains(toComplete, ".") && strings.HasPrefix(short, toComplete):
			out = append(out, cobra.CompletionWithDesc(short, desc))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
