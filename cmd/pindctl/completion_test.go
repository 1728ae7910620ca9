package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// complete runs cobra's hidden __complete command, as the shell scripts of
// `pindctl completion` do, and returns the offered lines and the directive.
func complete(t *testing.T, env map[string]string, args ...string) ([]string, string) {
	t.Helper()
	r := pindctl(t, env, append([]string{"__complete"}, args...)...)
	if r.code != exitOK {
		t.Fatalf("pindctl __complete %q: exit %d, stderr %s", args, r.code, r.err)
	}
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

func TestCompletion(t *testing.T) {
	p := startPind(t)
	for _, svc := range []string{volSvc, bill1Svc, bill2Svc} {
		expect(t, p.admin(t, "pin", "set", svc, "1.3", "--force", "--reason", "seed"), exitOK, "none -> 1.3")
	}
	env := map[string]string{"PINDCTL_ENDPOINTS": p.addr} // completion honours the environment too

	const noFiles = ":4" // cobra.ShellCompDirectiveNoFileComp
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"status", ""}, []string{
			bill1Svc + "\tpin 1.3", bill2Svc + "\tpin 1.3", volSvc + "\tpin 1.3"}},
		{[]string{"status", "acme.billing."}, []string{bill1Svc + "\tpin 1.3", bill2Svc + "\tpin 1.3"}},
		{[]string{"hold", "Vol"}, []string{"VolumeService\tpin 1.3"}},
		{[]string{"pin", "set", "acme.vol"}, []string{volSvc + "\tpin 1.3"}},
		{[]string{"pin", "set", volSvc, ""}, nil},
		{[]string{"mode", "VolumeService", ""}, []string{
			"auto\tpind raises the pin once the fleet has upgraded", "manual\tonly an operator raises the pin"}},
		{[]string{"status", "-o", ""}, []string{
			"table\taligned columns", "json\tprotojson, two-space indentation", "yaml\tthe JSON as YAML"}},
		{[]string{"status", "Nothing"}, nil},
	} {
		got, directive := complete(t, env, tc.args...)
		if len(got) == 0 {
			got = nil
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("pindctl __complete %q offers (-want +got):\n%s", tc.args, diff)
		}
		if directive != noFiles {
			t.Errorf("pindctl __complete %q: directive %s, want %s (no file names)", tc.args, directive, noFiles)
		}
	}
}

// Without a reachable pind, completion offers nothing and says so with the
// error directive instead of failing the shell.
func TestCompletionWithoutPind(t *testing.T) {
	p := startPind(t)
	p.stop()
	got, directive := complete(t, nil, "--endpoints", p.addr, "--timeout", "2s", "status", "")
	if len(got) != 0 {
		t.Errorf("completion without pind offers %q, want nothing", got)
	}
	if directive != ":5" { // ShellCompDirectiveError | NoFileComp
		t.Errorf("completion without pind: directive %s, want :5", directive)
	}
}
