package dbgate

import (
	"context"
	"testing"
	"time"

	"github.com/rollpin/rollpin/backport"
)

// BenchmarkGateReaction measures the time from the pin rising (SetPin
// called) to Wait returning; the baseline is one Ready (GetPins) round trip
// on the same pind.
func BenchmarkGateReaction(b *testing.B) {
	c, _ := startPind(b)
	registerInstance(b, c, "vol-b", "acme.volume.v1=1.4")
	after := backport.MustManifest(backport.Entry{Track: "acme.volume.v1", Version: backport.Version{Major: 1, Minor: 4}})
	ctx := context.Background()
	b.Run("wait-after-raise", func(b *testing.B) {
		var total time.Duration
		for i := 0; i < b.N; i++ {
			setPin(b, c, "1.3")
			watching := make(chan struct{})
			done := make(chan time.Time, 1)
			go func() {
				first := true
				_, err := Wait(ctx, c, after, func(Verdict) {
					if first {
						first = false
						close(watching)
					}
				})
				if err != nil {
					b.Error(err)
				}
				done <- time.Now()
			}()
			<-watching
			start := time.Now()
			setPin(b, c, "1.4")
			total += (<-done).Sub(start)
		}
		b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/reaction")
	})
	b.Run("ready-baseline", func(b *testing.B) {
		for b.Loop() {
			if _, err := Ready(ctx, c, after); err != nil {
				b.Fatal(err)
			}
		}
	})
}
