package backport

import (
	"testing"
	"time"

	"github.com/rollpin/rollpin/backport/internal/testpb"
)

func TestZZProbe(t *testing.T) {
	req := testpb.NewBenchRequest()
	cap := mustCapNoT(testpb.BenchCapText)
	zone, note, tag, spec, items := benchFields()
	fns := map[string]func(){
		"engine": func() { benchSink, _ = Downgrade(req, cap) },
		"hand":   func() { benchSink = handDowngrade(req) },
		"naive":  func() { benchSink = naiveDowngrade(req, zone, note, tag, spec, items) },
	}
	best := map[string]time.Duration{}
	for round := 0; round < 300; round++ {
		for name, fn := range fns {
			st := time.Now()
			for i := 0; i < 200; i++ {
				fn()
			}
			d := time.Since(st) / 200
			if b, ok := best[name]; !ok || d < b {
				best[name] = d
			}
		}
	}
	t.Logf("best: %v ratio engine/hand %.2f naive/engine %.2f", best, float64(best["engine"])/float64(best["hand"]), float64(best["naive"])/float64(best["engine"]))
}
