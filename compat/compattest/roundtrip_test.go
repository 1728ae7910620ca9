package compattest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rollpin/rollpin/compat"
	"github.com/rollpin/rollpin/compat/compattest"
)

// recorder is a testing.TB that records failures instead of failing, so a
// test can assert that RoundTrip fails and how.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
	logs []string
}

func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprint(args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.TB.Fatalf("RoundTrip must report with Errorf and return, not Fatalf: "+format, args...)
}

func TestRoundTripExamplePair(t *testing.T) {
	t.Parallel()
	prev, err := compat.ReadImage(exampleV1)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := compat.ReadImage(exampleV2)
	if err != nil {
		t.Fatal(err)
	}
	compattest.RoundTrip(t, prev, cur, compattest.WithCount(300))
}

func TestRoundTripFixturePair(t *testing.T) {
	t.Parallel()
	prev := compileSet(t, map[string]string{volumePath: prevVolume})
	cur := compileSet(t, map[string]string{volumePath: curVolume})
	rec := &recorder{TB: t}
	compattest.RoundTrip(rec, prev, cur, compattest.WithCount(300), compattest.WithSeed(42))
	if len(rec.errs) > 0 {
		t.Fatalf("RoundTrip failed:\n%s", strings.Join(rec.errs, "\n"))
	}
	// The run must have exercised the engine: fields dropped (iops, pool),
	// NVME rewritten to SSD, defaults (iops, pool) filled.
	if len(rec.logs) != 1 {
		t.Fatalf("RoundTrip logged %q, want one summary", rec.logs)
	}
	var types, count, dropped, enums, filled int
	var seed uint64
	if _, err := fmt.Sscanf(rec.logs[0], "compattest.RoundTrip: %d message types, %d messages each way, seed %d: Downgrade dropped %d fields and rewrote %d enum values; FillDefaults set %d fields",
		&types, &count, &seed, &dropped, &enums, &filled); err != nil {
		t.Fatalf("summary %q: %v", rec.logs[0], err)
	}
	if types < 4 || count != 300 || seed != 42 || dropped == 0 || enums == 0 || filled == 0 {
		t.Errorf("RoundTrip summary %q: want ≥4 types, 300 messages, seed 42 and nonzero drops, enum rewrites and fills", rec.logs[0])
	}
}

func TestRoundTripFailsOnDroppedAnnotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		edits     []string
		wantField string
	}{
		{
			name:      "field without since reaches the old side",
			edits:     []string{`uint32 iops = 7 [(rollpin.v1.field) = {since: "1.4", default: "3000"}];`, `uint32 iops = 7;`},
			wantField: "acme.volume.v1.CreateVolumeRequest.iops",
		},
		{
			name:      "enum value without since reaches the old side",
			edits:     []string{`VOLUME_TYPE_NVME = 3 [(rollpin.v1.enum_value) = {since: "1.4", downgrade_to: "VOLUME_TYPE_SSD"}];`, `VOLUME_TYPE_NVME = 3;`},
			wantField: "acme.volume.v1.CreateVolumeRequest.type",
		},
		{
			// Both directions fail: the old side receives pool, and a
			// volume from an old sender gets no default.
			name:      "since dropped from a response field with a default",
			edits:     []string{`{since: "1.4", default: "default-pool"}`, `{default: "default-pool"}`},
			wantField: "acme.volume.v1.Volume.pool",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prev := compileSet(t, map[string]string{volumePath: prevVolume})
			cur := compileSet(t, map[string]string{volumePath: edit(t, curVolume, tt.edits...)})
			rec := &recorder{TB: t}
			compattest.RoundTrip(rec, prev, cur, compattest.WithCount(300), compattest.WithSeed(7))
			if len(rec.errs) == 0 {
				t.Fatalf("RoundTrip passed, want a failure naming %s", tt.wantField)
			}
			for _, e := range rec.errs {
				if !strings.Contains(e, tt.wantField) || !strings.Contains(e, "WithSeed(7)") {
					t.Errorf("RoundTrip failure %q does not name %s and the seed", e, tt.wantField)
				}
			}
			t.Logf("failures as reported:\n%s", strings.Join(rec.errs, "\n"))
		})
	}
}
