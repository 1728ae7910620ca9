package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// printStructured writes msg as JSON (see marshalJSON) or YAML (the same JSON
// converted by sigs.k8s.io/yaml), per a.output. It reports false for table
// output, which the caller renders itself.
func (a *app) printStructured(msg proto.Message) (bool, error) {
	switch a.output {
	case "json":
		b, err := marshalJSON(msg, true)
		if err != nil {
			return true, err
		}
		_, err = fmt.Fprintf(a.Out, "%s\n", b)
		return true, err
	case "yaml":
		b, err := toYAML(msg)
		if err != nil {
			return true, err
		}
		_, err = a.Out.Write(b)
		return true, err
	}
	return false, nil
}

// toYAML converts msg to YAML through its protojson form.
func toYAML(msg proto.Message) ([]byte, error) {
	j, err := marshalJSON(msg, false)
	if err != nil {
		return nil, err
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	return y, nil
}

// newTable returns a tabwriter for aligned columns.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// row writes one tab-separated table row.
func row(w io.Writer, cells ...string) {
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// servicePackage returns the proto package of a full service name, which is
// the service's own track.
func servicePackage(service string) string {
	i := strings.LastIndexByte(service, '.')
	if i < 0 {
		return ""
	}
	return service[:i]
}

// shortManifest renders a manifest for a table cell: the version of the
// service's own track (its proto package) bare, followed by the other tracks
// as "+track=MAJOR.MINOR" ("1.4+acme.types.v1=2.0"); the canonical text
// when the own track is absent; "-" when empty.
func shortManifest(service, text string) string {
	if text == "" {
		return "-"
	}
	m, err := backport.ParseManifest(text)
	if err != nil {
		return text
	}
	own, ok := m.Get(servicePackage(service))
	if !ok {
		return m.String()
	}
	var b strings.Builder
	b.WriteString(own.String())
	for _, e := range m.Entries() {
		if e.Track != servicePackage(service) {
			b.WriteString("+" + e.Track + "=" + e.Version.String())
		}
	}
	return b.String()
}

// parseTarget reads the VERSION|MANIFEST argument of pin set/lower as pind
// resolves it: a bare MAJOR.MINOR sets the service's own track (its proto
// package) in the current pin cur and keeps its other tracks; a manifest
// replaces the pin. Syntax errors are usage errors.
func parseTarget(service, arg string, cur backport.Manifest) (backport.Manifest, error) {
	if !strings.Contains(arg, "=") {
		v, err := backport.ParseVersion(arg)
		if err != nil {
			return backport.Manifest{}, usagef("%v: give MAJOR.MINOR or a manifest like %s=1.4", err, orExample(servicePackage(service)))
		}
		track := servicePackage(service)
		if track == "" {
			return backport.Manifest{}, usagef("service %q has no proto package, so a bare version has no track: give track=MAJOR.MINOR", service)
		}
		m, err := cur.With(track, v)
		if err != nil {
			return backport.Manifest{}, usagef("%v", err)
		}
		return m, nil
	}
	m, err := backport.ParseManifest(arg)
	if err != nil {
		return backport.Manifest{}, usagef("%v", err)
	}
	if m.IsEmpty() {
		return backport.Manifest{}, usagef("empty manifest: give MAJOR.MINOR or track=MAJOR.MINOR,...")
	}
	return m, nil
}

func orExample(track string) string {
	if track == "" {
		return "acme.volume.v1"
	}
	return track
}

// modeText renders a pin mode.
func modeText(st *rollpinv1.ServiceState) string {
	if st.GetPin() == nil {
		return "-"
	}
	if st.GetPin().GetMode() == rollpinv1.PinMode_PIN_MODE_MANUAL {
		return "manual"
	}
	return "auto"
}

// holdText renders the hold of a pin.
func holdText(st *rollpinv1.ServiceState) string {
	h := st.GetPin().GetHold()
	if h == nil {
		return "-"
	}
	s := h.GetReason()
	if s == "" {
		s = "held"
	}
	if h.GetBy() != "" {
		s += " (" + h.GetBy() + ")"
	}
	return s
}

// instanceCount returns the number of live instances of st.
func instanceCount(st *rollpinv1.ServiceState) int {
	if n := len(st.GetInstances()); n > 0 {
		return n
	}
	n := 0
	for _, g := range st.GetVersions() {
		n += len(g.GetInstanceIds())
	}
	return n
}

// versionsText renders the instances per version, oldest first: "1.3:2 1.4:1".
func versionsText(st *rollpinv1.ServiceState) string {
	var parts []string
	for _, g := range st.GetVersions() {
		parts = append(parts, fmt.Sprintf("%s:%d", shortManifest(st.GetService(), g.GetManifest()), len(g.GetInstanceIds())))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// progressText renders the upgrade progress: how many instances run the
// newest version, "2/3 at 1.4", out of the expected number when more are
// expected than live ("2/3 at 1.4 (1 missing)").
func progressText(st *rollpinv1.ServiceState) string {
	vs := st.GetVersions()
	want := int(st.GetPin().GetExpectedInstances())
	if len(vs) == 0 {
		if want > 0 {
			return fmt.Sprintf("0/%d (%d missing)", want, want)
		}
		return "-"
	}
	newest := vs[len(vs)-1]
	n := instanceCount(st)
	if want > n {
		return fmt.Sprintf("%d/%d at %s (%d missing)", len(newest.GetInstanceIds()), want, shortManifest(st.GetService(), newest.GetManifest()), want-n)
	}
	return fmt.Sprintf("%d/%d at %s", len(newest.GetInstanceIds()), n, shortManifest(st.GetService(), newest.GetManifest()))
}

// raiseStateText names a raise state for tables.
func raiseStateText(s rollpinv1.RaiseState) string {
	switch s {
	case rollpinv1.RaiseState_RAISE_STATE_UP_TO_DATE:
		return "up-to-date"
	case rollpinv1.RaiseState_RAISE_STATE_SETTLING:
		return "settling"
	case rollpinv1.RaiseState_RAISE_STATE_HELD:
		return "held"
	case rollpinv1.RaiseState_RAISE_STATE_MANUAL:
		return "manual"
	case rollpinv1.RaiseState_RAISE_STATE_BLOCKED:
		return "blocked"
	case rollpinv1.RaiseState_RAISE_STATE_NO_INSTANCES:
		return "no-instances"
	}
	return "-"
}

// raiseText says why the pin of st is where it is: the raise state, pind's
// explanation, and the instances that block the raise.
func raiseText(st *rollpinv1.ServiceState) string {
	r := st.GetRaise()
	s := raiseStateText(r.GetState())
	reason := r.GetReason()
	if reason == "" && r.GetState() == rollpinv1.RaiseState_RAISE_STATE_SETTLING && r.GetSettleUntil() != nil {
		reason = "until " + formatTime(r.GetSettleUntil())
	}
	switch {
	case reason == "":
	case strings.HasPrefix(strings.ToLower(reason), s):
		s = reason // pind's explanation already starts with the state
	default:
		s += ": " + reason
	}
	if b := r.GetBlockingInstances(); len(b) > 0 && !strings.Contains(reason, b[0]) {
		s += " (waiting for " + strings.Join(b, ",") + ")"
	}
	return s
}

// formatTime renders a timestamp in UTC, RFC 3339, or "-" when unset.
func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// orDash returns s, or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
