package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// addReleaseSubcommands adds record, list and show under the release
// command (which, given a SERVICE instead, removes its hold).
func addReleaseSubcommands(a *app, cmd *cobra.Command) {
	cmd.AddCommand(newReleaseRecordCmd(a), newReleaseListCmd(a), newReleaseShowCmd(a))
}

func newReleaseRecordCmd(a *app) *cobra.Command {
	var file, manifest, reason string
	cmd := &cobra.Command{
		Use:   "record NAME (--descriptor-set FILE | --manifest MANIFEST)",
		Short: "Record a named release: the manifest a set of binaries speaks",
		Long: `release record stores NAME in pind with the manifest of a descriptor set
(the buf image of the release's protos) or one given as text. Releases never
change: recording NAME again with the same manifest does nothing, with
another is refused. pindctl pin set SERVICE --release NAME then pins a
service to what the release speaks, and status shows the newest release each
pin covers.`,
		Example: `  buf build -o image.binpb && pindctl release record liberty --descriptor-set image.binpb
  pindctl release record liberty --manifest acme.volume.v1=1.3,acme.billing.v1=2.0`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (file == "") == (manifest == "") {
				return usagef("release record needs exactly one of --descriptor-set FILE and --manifest MANIFEST")
			}
			text := manifest
			if file != "" {
				files, err := a.readDescriptorSet(file)
				if err != nil {
					return err
				}
				m, schemaErr := backport.ManifestOfFiles(files)
				if schemaErr != nil {
					return fmt.Errorf("the manifest of %s leaves out tracks whose declarations are invalid: %w; fix option (rollpin.v1.api) in those files", file, schemaErr)
				}
				if m.IsEmpty() {
					return fmt.Errorf("%s declares no track (no file sets option (rollpin.v1.api)): nothing to record", file)
				}
				text = m.String()
			} else if m, err := backport.ParseManifest(manifest); err != nil || m.IsEmpty() {
				return usagef("--manifest %q: give track=MAJOR.MINOR entries joined by ','", manifest)
			}
			c, err := a.pind()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			resp, err := c.RecordRelease(ctx, &rollpinv1.RecordReleaseRequest{Name: args[0], Manifest: text, Reason: reason})
			if err != nil {
				return a.rpcError("record release "+args[0], err)
			}
			if ok, err := a.printStructured(resp); ok {
				return err
			}
			if !resp.GetCreated() {
				_, err = fmt.Fprintf(a.Out, "release %s is already recorded as %s; nothing to do\n", args[0], resp.GetRelease().GetManifest())
				return err
			}
			_, err = fmt.Fprintf(a.Out, "recorded release %s: %s\n", args[0], resp.GetRelease().GetManifest())
			return err
		},
	}
	cmd.Flags().StringVar(&file, "descriptor-set", "", "FileDescriptorSet or buf image of the release (binary, JSON, .gz)")
	cmd.Flags().StringVar(&manifest, "manifest", "", "the release's manifest as text (track=MAJOR.MINOR,...)")
	cmd.Flags().StringVar(&reason, "reason", "", "what the release is")
	return cmd
}

func newReleaseListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the recorded releases, oldest first",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := a.releases(cmd.Context(), "")
			if err != nil {
				return err
			}
			if ok, err := a.printStructured(resp); ok {
				return err
			}
			if len(resp.GetReleases()) == 0 {
				fmt.Fprintln(a.Err, "pindctl: no release recorded yet (pindctl release record NAME ...)")
			}
			return writeReleaseTable(a.Out, resp.GetReleases())
		},
	}
}

func newReleaseShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a recorded release and which services' pins cover it",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := a.releases(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if ok, err := a.printStructured(resp.GetReleases()[0]); ok {
				return err
			}
			r := resp.GetReleases()[0]
			rm, _ := backport.ParseManifest(r.GetManifest())
			fmt.Fprintf(a.Out, "release %s, recorded %s by %s%s\n", r.GetName(), formatTime(r.GetRecordedAt()), r.GetRecordedBy(), orEmpty(": ", r.GetReason()))
			tw := newTable(a.Out)
			row(tw, "TRACK", "VERSION")
			for _, e := range rm.Entries() {
				row(tw, e.Track, e.Version.String())
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			snap, err := a.snapshot(cmd.Context())
			if err != nil {
				return err
			}
			tw = newTable(a.Out)
			fmt.Fprintln(a.Out)
			row(tw, "SERVICE", "PIN", "AT RELEASE "+r.GetName())
			for _, st := range snap.GetServices() {
				tracks := serviceTracks(st)
				if len(releaseFor(rm, tracks).Entries()) == 0 {
					continue
				}
				at := "no"
				if covers(st, rm) {
					at = "yes"
				}
				row(tw, st.GetService(), shortManifest(st.GetService(), st.GetPin().GetManifest()), at)
			}
			return tw.Flush()
		},
	}
}

// orEmpty returns prefix+s, or "" when s is empty.
func orEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// releases reads every release, or the one named.
func (a *app) releases(ctx context.Context, name string) (*rollpinv1.ListReleasesResponse, error) {
	c, err := a.pind()
	if err != nil {
		return nil, err
	}
	cctx, cancel := a.call(ctx)
	defer cancel()
	resp, err := c.ListReleases(cctx, &rollpinv1.ListReleasesRequest{Name: name})
	if err != nil {
		what := "list the releases"
		if name != "" {
			what = "read release " + name
		}
		return nil, a.rpcError(what, err)
	}
	return resp, nil
}

// writeReleaseTable renders releases as a table.
func writeReleaseTable(w io.Writer, rs []*rollpinv1.Release) error {
	tw := newTable(w)
	row(tw, "NAME", "MANIFEST", "RECORDED", "BY", "REASON")
	for _, r := range rs {
		row(tw, r.GetName(), r.GetManifest(), formatTime(r.GetRecordedAt()), orDash(r.GetRecordedBy()), orDash(r.GetReason()))
	}
	return tw.Flush()
}

// serviceTracks returns the tracks a service uses: those of its pin and of
// its live instances' manifests, else its own proto package.
func serviceTracks(st *rollpinv1.ServiceState) []string {
	seen := map[string]bool{}
	var out []string
	add := func(text string) {
		m, err := backport.ParseManifest(text)
		if err != nil {
			return
		}
		for _, e := range m.Entries() {
			if !seen[e.Track] {
				seen[e.Track] = true
				out = append(out, e.Track)
			}
		}
	}
	add(st.GetPin().GetManifest())
	for _, in := range st.GetInstances() {
		add(in.GetManifest())
	}
	if len(out) == 0 {
		if p := servicePackage(st.GetService()); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// releaseFor restricts a release's manifest to tracks.
func releaseFor(rel backport.Manifest, tracks []string) backport.Manifest {
	return rel.Restrict(tracks...)
}

// covers reports whether the pin of st is at or above rel on every track of
// rel the service uses (and rel names at least one).
func covers(st *rollpinv1.ServiceState, rel backport.Manifest) bool {
	want := releaseFor(rel, serviceTracks(st))
	if want.IsEmpty() {
		return false
	}
	pin, err := backport.ParseManifest(st.GetPin().GetManifest())
	if err != nil || st.GetPin() == nil {
		return false
	}
	return reaches(pin, want)
}

// newestCovered returns the name of the newest release (rs are oldest
// first) the pin of st covers, or "-".
func newestCovered(st *rollpinv1.ServiceState, rs []*rollpinv1.Release) string {
	for i := len(rs) - 1; i >= 0; i-- {
		m, err := backport.ParseManifest(rs[i].GetManifest())
		if err == nil && covers(st, m) {
			return rs[i].GetName()
		}
	}
	return "-"
}

// releaseTarget computes the pin --release NAME asks for: the current pin
// of st with every track the service uses set to the release's version.
func releaseTarget(st *rollpinv1.ServiceState, r *rollpinv1.Release) (backport.Manifest, error) {
	rel, err := backport.ParseManifest(r.GetManifest())
	if err != nil {
		return backport.Manifest{}, fmt.Errorf("release %s has an unreadable manifest %q: %w", r.GetName(), r.GetManifest(), err)
	}
	tracks := serviceTracks(st)
	want := releaseFor(rel, tracks)
	if want.IsEmpty() {
		return backport.Manifest{}, fmt.Errorf("release %s (%s) names none of the tracks %s uses (%s): nothing to pin", r.GetName(), r.GetManifest(), st.GetService(), strings.Join(tracks, ","))
	}
	next, _ := backport.ParseManifest(st.GetPin().GetManifest())
	for _, e := range want.Entries() {
		if next, err = next.With(e.Track, e.Version); err != nil {
			return backport.Manifest{}, err
		}
	}
	return next, nil
}

// setPinRelease implements pin set SERVICE --release NAME.
func (a *app) setPinRelease(ctx context.Context, name string, f pinFlags) error {
	full, st, err := a.lookup(ctx, name)
	if err != nil {
		return err
	}
	if st == nil {
		st = &rollpinv1.ServiceState{Service: full}
	}
	resp, err := a.releases(ctx, f.release)
	if err != nil {
		return err
	}
	target, err := releaseTarget(st, resp.GetReleases()[0])
	if err != nil {
		return err
	}
	if f.reason == "" {
		f.reason = "release " + f.release
	}
	return a.setPin(ctx, full, target.String(), f, false)
}
