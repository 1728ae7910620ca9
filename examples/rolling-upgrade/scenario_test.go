package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rollpin/rollpin/examples/internal/fleet"
)

// lineWriter sends each line written to t.Log.
type lineWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

// TestRollingUpgrade plays the demo (same code path as `go run
// ./examples/rolling-upgrade`, shorter timings): real processes built from
// the 1.3 and 1.4 sources, pind on a real embedded etcd. It takes about
// half a minute plus the first compilation of the two binaries.
func TestRollingUpgrade(t *testing.T) {
	readSources(t, "../volume", "../internal", "../../cmd/pindctl")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sum, err := Run(ctx, Options{
		Out:       &lineWriter{t: t},
		Dir:       t.TempDir(),
		V1Clients: 1,
		V2Clients: 1,
		Workers:   2,
		Pause:     20 * time.Millisecond,
		Settle:    time.Second,
		Soak:      time.Second,
		Tick:      time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	t.Run("no unexpected failure", func(t *testing.T) {
		if sum.Clients.Failed != 0 {
			t.Errorf("failed calls = %d, want 0; errors: %q", sum.Clients.Failed, sum.Errors)
		}
		if sum.Clients.OK == 0 {
			t.Errorf("ok calls = 0, want the load to have run")
		}
	})
	t.Run("no lost meaning", func(t *testing.T) {
		if sum.Clients.Lost != 0 {
			t.Errorf("answers that lost meaning = %d, want 0; errors: %q", sum.Clients.Lost, sum.Errors)
		}
	})
	t.Run("pin rose exactly once after the last 1.3 instance left", func(t *testing.T) {
		var versions []string
		for _, p := range sum.Pins {
			versions = append(versions, trackVersion(p.Manifest))
		}
		if diff := cmp.Diff([]string{"1.3", "1.4"}, versions); diff != "" {
			t.Fatalf("pin writes (-want +got):\n%s", diff)
		}
		if sum.Raises != 1 {
			t.Errorf("raises = %d, want 1", sum.Raises)
		}
		raise := sum.Pins[1]
		if sum.Last13Gone == 0 || raise.Revision <= sum.Last13Gone {
			t.Errorf("raise at etcd revision %d, last 1.3 instance left at %d: want the raise after", raise.Revision, sum.Last13Gone)
		}
		if raise.Live13 != 0 {
			t.Errorf("1.3 instances live at the raise = %d, want 0", raise.Live13)
		}
	})
	t.Run("1.4 features refused before the raise and working after", func(t *testing.T) {
		if diff := cmp.Diff(wantBefore, sum.FeaturesBefore); diff != "" {
			t.Errorf("features under pin 1.3 (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantAfter, sum.FeaturesAfter); diff != "" {
			t.Errorf("features under pin 1.4 (-want +got):\n%s", diff)
		}
		if sum.Clients.NewMethodRefused == 0 || sum.Clients.NewMethodOK == 0 {
			t.Errorf("load: ResizeVolume refused %d, ok %d; want both > 0", sum.Clients.NewMethodRefused, sum.Clients.NewMethodOK)
		}
	})
	t.Run("late 1.3 server fenced", func(t *testing.T) {
		if !strings.Contains(sum.Fenced, "below the pin") {
			t.Errorf("late 1.3 server: %q, want a refusal naming the pin", sum.Fenced)
		}
	})
	if !sum.OK() {
		t.Errorf("Summary.Problems = %q, want none", sum.Problems)
	}
}

// readSources reads every file under dirs. The binaries Run builds are not
// imported by this test, so without this go test's cache would not notice a
// change to their sources and would replay a stale result.
func readSources(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
				return err // symbolic links point at the library's own protos
			}
			_, err = os.ReadFile(path)
			return err
		})
		if err != nil {
			t.Fatalf("read the sources of the demo's binaries: %v", err)
		}
	}
}

// TestJudge checks that judge reports each broken promise.
func TestJudge(t *testing.T) {
	good := func() Summary {
		return Summary{
			Clients: fleet.Counts{OK: 10, NewMethodRefused: 1, NewMethodOK: 1},
			Pins: []PinChange{
				{Revision: 5, Manifest: "acme.volume.v1=1.3", Live13: 3},
				{Revision: 20, Manifest: "acme.volume.v1=1.4"},
			},
			Last13Gone:     18,
			FeaturesBefore: wantBefore,
			FeaturesAfter:  wantAfter,
			Fenced:         "below the pin",
		}
	}
	tests := []struct {
		name   string
		change func(*Summary)
		want   string // substring of a problem expected; "" for none
	}{
		{"all good", func(*Summary) {}, ""},
		{"failed call", func(s *Summary) { s.Clients.Failed = 1 }, "failed unexpectedly"},
		{"lost meaning", func(s *Summary) { s.Clients.Lost = 2 }, "lost meaning"},
		{"never raised", func(s *Summary) { s.Pins = s.Pins[:1] }, "rose 0 times"},
		{"raised twice", func(s *Summary) {
			s.Pins = append(s.Pins, PinChange{Revision: 30, Manifest: "acme.volume.v1=1.3"},
				PinChange{Revision: 40, Manifest: "acme.volume.v1=1.4"})
		}, "rose 2 times"},
		{"raised before the last 1.3 left", func(s *Summary) { s.Last13Gone = 25 }, "with 0 1.3 servers live"},
		{"raised with a 1.3 live", func(s *Summary) { s.Pins[1].Live13 = 1 }, "with 1 1.3 servers live"},
		{"feature not refused", func(s *Summary) {
			s.FeaturesBefore = map[string]string{"nvme": "downgraded", "size_mib": "downgraded", "thick": "withheld",
				"resize": "ok", "multi_attach": "refused"}
		}, `feature resize before the raise: "ok", want "refused"`},
		{"late joiner let in", func(s *Summary) { s.Fenced = "" }, "not refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.change(&s)
			got := judge(&s)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("judge() = %q, want no problem", got)
			case tt.want != "" && !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tt.want) }):
				t.Errorf("judge() = %q, want a problem containing %q", got, tt.want)
			}
		})
	}
}
