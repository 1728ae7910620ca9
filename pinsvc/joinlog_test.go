package pinsvc

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rollpin/rollpin/internal/etcdtest"
)

// lockedBuffer is a bytes.Buffer safe for a logger and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestJoinsAndLeavesLoggedAtInfo(t *testing.T) {
	var logs lockedBuffer
	ts := startServer(t, etcdtest.Start(t).Client(t), WithServerLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	leave, err := register(t, ts.cli, "vol-a", "acme.volume.v1=1.3", "acme.volume.v1.VolumeService")
	if err != nil {
		t.Fatal(err)
	}
	leave()
	left := regexp.MustCompile(`level=INFO msg="instance left" pind=\S+ instance=vol-a manifest="acme.volume.v1=1.3" services=\[acme.volume.v1.VolumeService\] registered_for=[0-9.]+(ms|s|µs)\b`)
	deadline := time.Now().Add(waitFor)
	for !left.MatchString(logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no INFO line for the leave with a duration string; logs:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `level=INFO msg="instance joined"`) {
		t.Errorf("no INFO line for the join; logs:\n%s", logs.String())
	}
}
