package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// startBinary starts the pind binary and returns its gRPC address, read
// from its "pind serving" log line.
func startBinary(t *testing.T, bin string, env ...string) (*exec.Cmd, string, <-chan []string) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	lines := make(chan []string, 1)
	go func() {
		var all []string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			all = append(all, sc.Text())
			var rec struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "pind serving" {
				addr <- rec.Listen
			}
		}
		lines <- all
	}()
	select {
	case a := <-addr:
		return cmd, a, lines
	case <-time.After(60 * time.Second):
		t.Fatal("pind binary not serving after 60s")
	}
	return nil, "", nil
}

// The built binary, configured only through PIND_* variables, keeps its pins
// across a SIGTERM and a restart.
func TestBinaryRestartKeepsPins(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "pind")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := []string{"PIND_LISTEN=127.0.0.1:0", "PIND_DATA_DIR=" + t.TempDir(), "PIND_LEASE_TTL=2s"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cmd, addr, logs := startBinary(t, bin, env...)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := rollpinv1.NewPinServiceClient(conn).SetPin(ctx, &rollpinv1.SetPinRequest{Service: svc, Manifest: "2.1", Force: true}); err != nil {
		t.Fatalf("SetPin: %v", err)
	}
	// A second pind on the same data dir exits 1 at once with one line.
	second := exec.CommandContext(ctx, bin)
	second.Env = append(os.Environ(), env...)
	out, err := second.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), "pind.lock") {
		t.Fatalf("second pind on the same --data-dir: %v, output %q; want exit status 1 and one line naming pind.lock", err, out)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pind exited with %v after SIGTERM, want status 0", err)
	}
	if all := strings.Join(<-logs, "\n"); !strings.Contains(all, "pind shutting down") {
		t.Errorf("logs lack the shutdown line:\n%s", all)
	}

	_, addr, _ = startBinary(t, bin, env...)
	conn2, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	gp, err := rollpinv1.NewPinServiceClient(conn2).GetPins(ctx, &rollpinv1.GetPinsRequest{Service: svc})
	if err != nil || gp.GetServices()[0].GetPin().GetManifest() != "acme.volume.v1=2.1" {
		t.Fatalf("GetPins after restart = %v, %v; want pin acme.volume.v1=2.1", gp, err)
	}
}
