package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// waitCond is one --for condition of pindctl wait: a property of a service
// (pin, floor or cap) that must reach a manifest.
type waitCond struct {
	what string // "pin", "floor" or "cap"
	arg  string // as typed after '='
}

// parseWaitCond reads "pin=1.4", "floor=acme.volume.v1=1.4,acme.types.v1=2.0".
func parseWaitCond(s string) (waitCond, error) {
	what, arg, ok := strings.Cut(s, "=")
	if !ok || arg == "" {
		return waitCond{}, usagef("--for %q: give pin=VERSION, floor=VERSION or cap=VERSION (VERSION may be a manifest)", s)
	}
	switch what {
	case "pin", "floor", "cap":
	default:
		return waitCond{}, usagef("--for %q: unknown property %q; use pin, floor or cap", s, what)
	}
	if _, err := parseTarget("syntax.check.Service", arg, backport.Manifest{}); err != nil {
		return waitCond{}, usagef("--for %q: %v", s, err)
	}
	return waitCond{what: what, arg: arg}, nil
}

// String renders the condition as typed.
func (c waitCond) String() string { return c.what + "=" + c.arg }

// check reports whether st meets c, and otherwise what blocks it.
func (c waitCond) check(st *rollpinv1.ServiceState) (ok bool, blockers []string) {
	svc := st.GetService()
	target, err := parseTarget(svc, c.arg, backport.Manifest{})
	if err != nil {
		return false, []string{err.Error()}
	}
	var text string
	switch c.what {
	case "pin":
		text = st.GetPin().GetManifest()
	case "floor":
		text = st.GetFloor()
	case "cap":
		text = st.GetEffectiveCap()
	}
	cur, _ := backport.ParseManifest(text)
	if reaches(cur, target) {
		return true, nil
	}
	blockers = append(blockers, fmt.Sprintf("%s is %s", c.what, shortManifest(svc, text)))
	if groups := blockingInstances(st, target); len(groups) > 0 {
		blockers = append(blockers, "instances below "+shortManifest(svc, target.String())+": "+strings.Join(groups, ", "))
	} else if instanceCount(st) == 0 && c.what != "pin" {
		blockers = append(blockers, "no live instances")
	}
	if c.what != "floor" {
		if h := st.GetPin().GetHold(); h != nil {
			blockers = append(blockers, "held: "+holdText(st)+" (pindctl release "+svc+")")
		} else if st.GetPin().GetMode() == rollpinv1.PinMode_PIN_MODE_MANUAL {
			blockers = append(blockers, "mode is manual: an operator must raise the pin (pindctl pin set)")
		} else if st.GetRaise().GetState() == rollpinv1.RaiseState_RAISE_STATE_SETTLING {
			blockers = append(blockers, raiseText(st))
		}
	}
	return false, blockers
}

// reaches reports whether cur has every track of target at or above
// target's version.
func reaches(cur, target backport.Manifest) bool {
	for _, e := range target.Entries() {
		v, ok := cur.Get(e.Track)
		if !ok || v.Less(e.Version) {
			return false
		}
	}
	return true
}

// errWaitTimeout ends pindctl wait when the deadline passes first.
var errWaitTimeout = errors.New("timed out")

func newWaitCmd(a *app) *cobra.Command {
	var fors []string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait SERVICE --for pin=VERSION [--for floor=VERSION] [--timeout 10m]",
		Short: "Block until a service's pin, floor or cap reaches a version (for pipelines)",
		Long: `wait follows pind's stream of changes (no polling) until every --for
condition holds for SERVICE, then exits 0; when --timeout passes first it
exits 1 and says what blocks: the pin or floor where it is, the instances
below the version, a hold, the manual mode, the settle window.

  pin=VERSION    the stored pin is at or above VERSION
  floor=VERSION  every live instance runs VERSION or newer
  cap=VERSION    what senders use, min(pin, floor), is at or above VERSION

VERSION is MAJOR.MINOR (the service's own track) or a manifest. SERVICE
may be a unique suffix; a full name may name a service pind does not know
yet. --timeout 0 waits forever. With -o json or yaml the service's last
state is printed. When pind is unreachable, wait keeps retrying until the
timeout.`,
		Example: `  pindctl wait VolumeService --for pin=1.4 --for floor=1.4 --timeout 10m`,
		Args:    exactArgs(1, "SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(fors) == 0 {
				return usagef("wait needs at least one --for condition (pin=VERSION, floor=VERSION or cap=VERSION)")
			}
			var conds []waitCond
			for _, f := range fors {
				c, err := parseWaitCond(f)
				if err != nil {
					return err
				}
				conds = append(conds, c)
			}
			if timeout < 0 {
				return usagef("--timeout must not be negative, got %s", timeout)
			}
			return a.wait(cmd.Context(), args[0], conds, timeout)
		},
	}
	cmd.Flags().StringArrayVar(&fors, "for", nil, "condition to wait for: pin=VERSION, floor=VERSION or cap=VERSION (repeatable; all must hold)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long and exit 1 (0: wait forever)")
	return cmd
}

// wait implements pindctl wait.
func (a *app) wait(ctx context.Context, name string, conds []waitCond, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, errWaitTimeout)
		defer cancel()
	}
	var f fleet
	var full string
	var last *rollpinv1.ServiceState
	var blockers []string
	done := errors.New("done")
	err := a.follow(ctx, func(u *rollpinv1.PinUpdate) error {
		f.apply(u)
		names := make([]string, 0, len(f.services))
		for n := range f.services {
			names = append(names, n)
		}
		resolved, err := resolveService(name, names)
		if err != nil {
			var ue *usageError
			if errors.As(err, &ue) {
				return err
			}
			blockers = []string{err.Error()}
			return nil
		}
		full = resolved
		last = f.services[full]
		if last == nil {
			blockers = []string{"pind knows no service " + full + " yet"}
			return nil
		}
		blockers = nil
		for _, c := range conds {
			if ok, b := c.check(last); !ok {
				blockers = append(blockers, b...)
			}
		}
		if len(blockers) == 0 {
			return done
		}
		return nil
	})
	if err != nil && !errors.Is(err, done) {
		return err
	}
	if last != nil {
		if ok, perr := a.printStructured(last); ok && perr != nil {
			return perr
		}
	}
	what := make([]string, len(conds))
	for i, c := range conds {
		what[i] = c.String()
	}
	if errors.Is(err, done) {
		if a.output == "table" {
			fmt.Fprintf(a.Out, "%s: %s (pin %s, floor %s) at revision %d\n", full, strings.Join(what, " "),
				shortManifest(full, last.GetPin().GetManifest()), shortManifest(full, last.GetFloor()), f.rev)
		}
		return nil
	}
	if context.Cause(ctx) == errWaitTimeout {
		if len(blockers) == 0 {
			blockers = []string{"no answer from pind at " + strings.Join(a.endpointList(), ",")}
		}
		return fmt.Errorf("timed out after %s waiting for %s %s: %s", timeout, orDash(full), strings.Join(what, " "), strings.Join(dedupe(blockers), "; "))
	}
	return fmt.Errorf("wait for %s %s: interrupted", name, strings.Join(what, " "))
}

// dedupe removes repeated strings, keeping the first of each.
func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
