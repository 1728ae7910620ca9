package main

import (
	"bytes"
	"errors"
	"flag"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollpin/rollpin/internal/buildinfo"
)

func noEnv(string) string { return "" }

func TestHelpListsFlagsAndEnvironment(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--help"}, noEnv, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseFlags(--help) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage:\n  pind [flags]", "PIND_<FLAG>", "--etcd-endpoints string", "--lease-ttl duration", "--version"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("pind --help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestVersionPrintsBuild(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--version"}, noEnv, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseFlags(--version) = %v, want flag.ErrHelp", err)
	}
	if got, want := out.String(), buildinfo.Line("pind")+"\n"; got != want {
		t.Errorf("pind --version printed %q, want %q", got, want)
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--bogus"}, nil, "unknown flag: --bogus (see pind --help)"},
		{[]string{"--settle"}, nil, "flag needs an argument: --settle (see pind --help)"},
		{[]string{"--settle", "soon"}, nil, `invalid argument "soon" for "--settle" flag: time: invalid duration "soon" (see pind --help)`},
		{[]string{"serve"}, nil, `unexpected arguments ["serve"]: pind takes only flags (see pind --help)`},
		{nil, map[string]string{"PIND_LEASE_TTL": "long"}, `PIND_LEASE_TTL="long": time: invalid duration "long" (see pind --help)`},
	} {
		var out bytes.Buffer
		_, err := parseFlags(tc.args, func(k string) string { return tc.env[k] }, &out)
		if !errors.Is(err, errUsage) || err.Error() != tc.want {
			t.Errorf("parseFlags(%q, %v) = %v, want the usage error %q", tc.args, tc.env, err, tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("parseFlags(%q) printed %q, want nothing (main prints the one line)", tc.args, out.String())
		}
	}
}

// Command lines written for the standard flag package keep working.
func TestSingleDashLongFlags(t *testing.T) {
	o, err := parseFlags([]string{"-listen", ":9", "-settle=3s", "--lease-ttl", "4s"}, noEnv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.listen != ":9" || o.settle != 3*time.Second || o.leaseTTL != 4*time.Second {
		t.Errorf("parseFlags = listen %q settle %v lease %v, want :9 3s 4s", o.listen, o.settle, o.leaseTTL)
	}
}

// The built binary exits 2 with one line on a bad flag, and 0 on --version.
func TestBinaryExitCodes(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "pind")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--no-such-flag")
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("pind --no-such-flag: %v, want exit status 2", err)
	}
	if got := stderr.String(); got != "pind: unknown flag: --no-such-flag (see pind --help)\n" {
		t.Errorf("pind --no-such-flag wrote %q, want one line", got)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("pind --version: %v", err)
	}
	if !strings.HasPrefix(string(out), "pind ") || !strings.Contains(string(out), "(revision ") || strings.Count(string(out), "\n") != 1 {
		t.Errorf("pind --version = %q, want one line \"pind VERSION (revision ...) GOVERSION\"", out)
	}
}

// FuzzParseFlags: any command line yields options or an error, never a
// panic, and a refused one is a single line.
func FuzzParseFlags(f *testing.F) {
	for _, seed := range []string{"--listen\x00:1", "-settle=3s", "--bogus", "-", "--", "-h", "--data-dir=", "-listen\x00--\x00x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		for _, a := range args {
			if a == "--help" || a == "-h" || a == "-help" || a == "--version" || a == "-v" || a == "-version" {
				return // prints to out; covered by the tests above
			}
		}
		_, err := parseFlags(args, noEnv, &bytes.Buffer{})
		if err != nil && errors.Is(err, errUsage) && strings.Contains(strings.TrimSuffix(err.Error(), "\n"), "\n") && !strings.ContainsAny(line, "\n") {
			t.Errorf("parseFlags(%q) = %q, want one line", args, err)
		}
	})
}
