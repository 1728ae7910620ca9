package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unitDirectives reads a systemd unit: every directive of every section,
// continuation lines joined, comments dropped.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section, pending := "", ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is neither a section nor a directive", path, line)
		}
		out[section+"."+k] = append(out[section+"."+k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The shipped unit starts pind with flags pind accepts, keeps its data in
// the unit's state directory and is hardened.
func TestSystemdUnit(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "systemd", "pind.service")
	d := unitDirectives(t, path)
	exec := d["Service.ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("%s has %d ExecStart lines, want 1", path, len(exec))
	}
	argv := strings.Fields(exec[0])
	if filepath.Base(argv[0]) != "pind" {
		t.Errorf("ExecStart runs %s, want pind", argv[0])
	}
	o, err := parseFlags(argv[1:], noEnv, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("pind refuses the unit's flags %q: %v", argv[1:], err)
	}
	if state := d["Service.StateDirectory"]; len(state) != 1 || !strings.HasPrefix(o.dataDir, "/var/lib/"+state[0]+"/") {
		t.Errorf("--data-dir %s is not under the unit's StateDirectory %v", o.dataDir, state)
	}
	for k, want := range map[string]string{
		"Service.DynamicUser":           "yes",
		"Service.Restart":               "on-failure",
		"Service.NoNewPrivileges":       "yes",
		"Service.ProtectSystem":         "strict",
		"Service.ProtectHome":           "yes",
		"Service.PrivateTmp":            "yes",
		"Service.KillSignal":            "SIGTERM",
		"Service.CapabilityBoundingSet": "",
		"Install.WantedBy":              "multi-user.target",
	} {
		if got := d[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s = %q, want %q", path, k, got, want)
		}
	}
}
