package pinsvc

import (
	"testing"
	"time"
)

// Every option has the default its doc comment states, and each option
// sets what it names.
func TestOptionsDefaultsAndOverrides(t *testing.T) {
	d, err := evaluateOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Prefix != DefaultPrefix || d.Settle != DefaultSettle || d.LeaseTTL != DefaultLeaseTTL ||
		d.HistorySize != DefaultHistorySize || d.HistoryBytes != DefaultHistoryBytes ||
		d.RaiseInterval != time.Second || d.ElectionTTL != DefaultLeaseTTL || d.Name == "" || d.Logger == nil ||
		d.AdminToken != "" || d.RegisterToken != "" || d.WriterIdentities != nil || d.RegisterIdentities != nil {
		t.Errorf("evaluateOptions() = %+v, want the documented defaults", d)
	}
	ids := map[string][]string{"volume": {"acme.volume.v1.*"}}
	o, err := evaluateOptions([]Option{
		WithPrefix("/custom"), WithSettle(2 * time.Second), WithLeaseTTL(3 * time.Second),
		WithAdminToken("a"), WithWriterIdentities("ops"), WithRegisterToken("r"), WithRegisterIdentities(ids),
		WithName("n"), WithHistory(5, 0), WithRaiseInterval(70 * time.Millisecond), WithElectionTTL(4 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	ids["volume"][0] = "changed" // the Server keeps its own copy
	if o.Prefix != "/custom/" || o.Settle != 2*time.Second || o.LeaseTTL != 3*time.Second || o.AdminToken != "a" ||
		len(o.WriterIdentities) != 1 || o.RegisterToken != "r" || o.RegisterIdentities["volume"][0] != "acme.volume.v1.*" ||
		o.Name != "n" || o.HistorySize != 5 || o.HistoryBytes != DefaultHistoryBytes ||
		o.RaiseInterval != 70*time.Millisecond || o.ElectionTTL != 4*time.Second {
		t.Errorf("evaluateOptions(...) = %+v, want every option applied", o)
	}
	// The raise interval follows the settle window by default.
	if o, _ := evaluateOptions([]Option{WithSettle(time.Second)}); o.RaiseInterval != 100*time.Millisecond {
		t.Errorf("raise interval with a 1s settle window = %v, want 100ms", o.RaiseInterval)
	}
	for _, bad := range [][]Option{{WithLeaseTTL(500 * time.Millisecond)}, {WithSettle(-time.Second)}, {WithRaiseInterval(-1)}} {
		if _, err := evaluateOptions(bad); err == nil {
			t.Errorf("evaluateOptions(%d options) accepted an invalid duration", len(bad))
		}
	}
}
