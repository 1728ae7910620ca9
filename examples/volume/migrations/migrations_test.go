package migrations

import (
	"testing"

	"github.com/rollpin/rollpin/dbgate"
)

// TestLintClean is the banned-operations test of the example: every
// migration passes the linter, and only 00003 is a contract migration.
func TestLintClean(t *testing.T) {
	findings, err := dbgate.Lint(FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Error(f)
	}
	migs, _, err := dbgate.Load(FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migs {
		want := dbgate.Expand
		if m.File == "00003_drop_size_gb.sql" {
			want = dbgate.Contract
		}
		if m.Phase != want {
			t.Errorf("%s: phase %v, want %v", m.File, m.Phase, want)
		}
	}
}
