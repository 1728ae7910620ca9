package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
)

// result is what one pindctl invocation printed and returned.
type result struct {
	code     int
	out, err string
}

// syncBuffer is a strings.Builder safe for a writer and a reader in
// different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pindctl runs the real command line with env as its whole environment.
func pindctl(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	code := run(context.Background(), args, streams{Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	return result{code: code, out: out.String(), err: errb.String()}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		env     map[string]string
		wantErr string
	}{
		{args: []string{"frobnicate"}, wantErr: `unknown command "frobnicate" for "pindctl"`},
		{args: []string{"pin", "frob"}, wantErr: `unknown command "frob" for "pindctl pin"`},
		{args: []string{"--bogus", "status"}, wantErr: "unknown flag: --bogus"},
		{args: []string{"-o", "xml", "status"}, wantErr: `unknown output format "xml"`},
		{args: []string{"status"}, env: map[string]string{"PINDCTL_OUTPUT": "xml"}, wantErr: `unknown output format "xml"`},
		{args: []string{"status"}, env: map[string]string{"PINDCTL_TIMEOUT": "soon"}, wantErr: `PINDCTL_TIMEOUT="soon"`},
		{args: []string{"--timeout", "0s", "status"}, wantErr: "--timeout must be positive"},
		{args: []string{"--endpoints", "nohostport", "status"}, wantErr: `endpoint "nohostport": want host:port`},
		{args: []string{"--tls-cert", "c.pem", "status"}, wantErr: "--tls-cert and --tls-key go together"},
		{args: []string{"status", "a", "b"}, wantErr: "takes at most [SERVICE]"},
		{args: []string{"pin", "set", "VolumeService"}, wantErr: "takes SERVICE and VERSION|MANIFEST, got 1"},
		{args: []string{"pin", "set", "VolumeService", "1.x"}, wantErr: `malformed version "1.x"`},
		{args: []string{"pin", "lower", "VolumeService", "a=b"}, wantErr: "malformed"},
		{args: []string{"mode", "VolumeService", "sideways"}, wantErr: `unknown mode "sideways": use auto or manual`},
		{args: []string{"hold", "VolumeService"}, wantErr: "hold needs --reason"},
		{args: []string{"release"}, wantErr: "takes SERVICE, got 0"},
		{args: []string{"watch", "x"}, wantErr: "pindctl watch takes no arguments, got 1"},
		{args: []string{"manifest", "x"}, wantErr: "use --descriptor-set FILE"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			r := pindctl(t, tc.env, tc.args...)
			if r.code != exitUsage {
				t.Errorf("pindctl %v exit code = %d, want %d (stderr %q)", tc.args, r.code, exitUsage, r.err)
			}
			if !strings.Contains(r.err, tc.wantErr) {
				t.Errorf("pindctl %v stderr = %q, want it to contain %q", tc.args, r.err, tc.wantErr)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{}, {"--help"}, {"pin"}, {"status", "--help"}} {
		r := pindctl(t, nil, args...)
		if r.code != exitOK || !strings.Contains(r.out, "Usage:") {
			t.Errorf("pindctl %v = exit %d, stdout %q; want exit 0 with usage", args, r.code, r.out)
		}
	}
}

func TestUnreachable(t *testing.T) {
	addr := closedAddr(t)
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{args: []string{"--endpoints", addr, "status"}},
		{args: []string{"status"}, env: map[string]string{"PINDCTL_ENDPOINTS": addr}},
		// watch waits for pind instead (TestWatchSaysOnceWhenItLosesAndRegainsPind).
	} {
		r := pindctl(t, tc.env, tc.args...)
		want := "cannot reach pind at " + addr
		if r.code != exitFailed || !strings.Contains(r.err, want) || !strings.Contains(r.err, "is it running? (--endpoints)") {
			t.Errorf("pindctl %v (env %v) = exit %d, stderr %q; want exit 1 and %q", tc.args, tc.env, r.code, r.err, want)
		}
	}
}
