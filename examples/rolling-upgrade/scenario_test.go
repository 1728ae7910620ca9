package main

import (
	"context"
	"io"
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
	"github.com/rollpin/rollpin/internal/pgtest"
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
	if _, err := pgtest.BinDir(); err != nil {
		t.Fatalf("the demo's database plane needs PostgreSQL's server binaries: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out strings.Builder
	sum, err := Run(ctx, Options{
		Out:       io.MultiWriter(&lineWriter{t: t}, &syncWriter{w: &out}),
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
	t.Run("database: expand, migrate, contract gated on the pin", func(t *testing.T) {
		d := sum.DB
		if !d.Used {
			t.Fatalf("the database plane was not used; output:\n%s", out.String())
		}
		if !d.ExpandBefore14 {
			t.Errorf("size_mib (the expand) was not there before the first 1.4 server started")
		}
		if !d.ContractRefused {
			t.Errorf("the first migrate up did not stop before the contract while 1.3 servers were live")
		}
		text := out.String()
		first := strings.Index(text, "$ pindctl migrate up")
		if first < 0 || !strings.Contains(text[first:], "volume-1-1.3") ||
			strings.Index(text[first:], "volume-1-1.3") > strings.Index(text[first:], "replacing server 1") {
			t.Errorf("the first migrate up does not name the 1.3 instances blocking the contract before the first replacement")
		}
		if !d.ContractApplied {
			t.Errorf("the contract (drop size_gb) was not applied after the pin rose")
		}
		if !strings.HasPrefix(d.Mark, "acme.volume.v1 1.4 00003_drop_size_gb.sql applied") {
			t.Errorf("contract mark in pindctl status = %q, want acme.volume.v1 1.4 00003_drop_size_gb.sql applied ...", d.Mark)
		}
		if d.Unfilled != 0 || sum.Servers.Backfilled == 0 {
			t.Errorf("backfill: %d rows set, %d left without size_mib; want > 0 and 0", sum.Servers.Backfilled, d.Unfilled)
		}
		want := int64(3 * d.Seeded)
		if d.Seeded == 0 || !slices.Equal(d.Readbacks, []int64{want, want}) {
			t.Errorf("%d volumes seeded at 1.3, read back ok %v; want each of them read right 3 times after the backfill and after the contract",
				d.Seeded, d.Readbacks)
		}
	})
	if !sum.OK() {
		t.Errorf("Summary.Problems = %q, want none", sum.Problems)
	}
}

// TestRollingUpgradeWithoutPostgres plays the demo as where PostgreSQL is
// not installed: it says so in one line and keeps every other promise.
func TestRollingUpgradeWithoutPostgres(t *testing.T) {
	readSources(t, "../volume", "../internal", "../../cmd/pindctl")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out strings.Builder
	sum, err := Run(ctx, Options{
		Out: io.MultiWriter(&lineWriter{t: t}, &syncWriter{w: &out}), Dir: t.TempDir(), NoPostgres: true,
		V1Clients: 1, V2Clients: 1, Workers: 1, Pause: 20 * time.Millisecond,
		Settle: time.Second, Soak: 500 * time.Millisecond, Tick: time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var pg []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "PostgreSQL") {
			pg = append(pg, l)
		}
	}
	if len(pg) != 1 || !strings.Contains(pg[0], "database plane") || !strings.Contains(pg[0], "skipped") {
		t.Errorf("lines naming PostgreSQL = %q, want one saying the database plane is skipped", pg)
	}
	if strings.Contains(out.String(), "$ pindctl migrate") || sum.DB.Used {
		t.Errorf("migrate up ran without PostgreSQL")
	}
	if !sum.OK() {
		t.Errorf("Summary.Problems = %q, want none", sum.Problems)
	}
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
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
			DB: DBSummary{Used: true, ExpandBefore14: true, ContractRefused: true, ContractApplied: true,
				Mark: "acme.volume.v1 1.4 00003_drop_size_gb.sql applied", Seeded: 2, Readbacks: []int64{6, 6}},
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
		{"contract not refused", func(s *Summary) { s.DB.ContractRefused = false }, "contract migration was not refused"},
		{"no mark", func(s *Summary) { s.DB.Mark = "" }, "no contract mark"},
		{"readback short", func(s *Summary) { s.DB.Readbacks = []int64{6, 5} }, "read back ok [6 5]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.change(&s)
			got := append(judge(&s), judgeDB(s.DB)...)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("judge() = %q, want no problem", got)
			case tt.want != "" && !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tt.want) }):
				t.Errorf("judge() = %q, want a problem containing %q", got, tt.want)
			}
		})
	}
}
