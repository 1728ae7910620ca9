package main

import (
	"context"
	"fmt"
	"os"
	"time"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// clearScreen moves a terminal's cursor home and clears the screen.
const clearScreen = "\x1b[H\x1b[2J"

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// watchStatus implements status --watch: the status table (of every
// service, or of the one name resolves to) after every change.
func (a *app) watchStatus(ctx context.Context, name string) error {
	var f fleet
	term := isTerminal(a.Out)
	return a.follow(ctx, func(u *rollpinv1.PinUpdate) error {
		f.apply(u)
		states := f.sorted()
		if name != "" {
			full, err := resolveService(name, serviceNames(states))
			if err != nil {
				return err
			}
			var keep []*rollpinv1.ServiceState
			for _, s := range states {
				if s.GetService() == full {
					keep = append(keep, s)
				}
			}
			states = keep
		}
		snap := &rollpinv1.GetPinsResponse{Services: states, Revision: f.rev}
		switch a.output {
		case "json":
			b, err := marshalJSON(snap, false)
			if err != nil {
				return fmt.Errorf("encode JSON: %w", err)
			}
			_, err = fmt.Fprintf(a.Out, "%s\n", b)
			return err
		case "yaml":
			b, err := toYAML(snap)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.Out, "---\n%s", b)
			return err
		}
		if term {
			fmt.Fprint(a.Out, clearScreen)
		}
		fmt.Fprintf(a.Out, "revision %d at %s\n", f.rev, time.Now().UTC().Format(time.RFC3339))
		if err := writeStatusTable(a.Out, states); err != nil {
			return err
		}
		_, err := fmt.Fprintln(a.Out)
		return err
	})
}
