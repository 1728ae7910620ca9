package dbgate

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseContractHeader(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"-- rollpin:contract after=acme.volume.v1=1.4":     "acme.volume.v1=1.4",
		"--rollpin:contract   after=b.v1=2.0,a.v1=1.4":     "a.v1=1.4,b.v1=2.0",
		"rollpin:contract after=acme.volume.v1=1.4":        "acme.volume.v1=1.4",
		"-- rollpin:contract\tafter=acme.volume.v1=1.4   ": "acme.volume.v1=1.4",
	}
	for in, want := range good {
		m, err := ParseContractHeader(in)
		if err != nil || m.String() != want {
			t.Errorf("ParseContractHeader(%q) = %v, %v; want %s", in, m, err, want)
		}
	}
	for _, in := range []string{
		"-- rollpin:contract", "-- rollpin:contract after=", "-- rollpin:contract after=1.4",
		"-- rollpin:contract before=a.v1=1.4", "-- rollpin:contract after=a.v1=1.4 after=b.v1=1.0",
		"-- rollpin:contracts after=a.v1=1.4", "-- contract after=a.v1=1.4", "-- rollpin:contract after=a.v1=1.4x",
	} {
		if m, err := ParseContractHeader(in); err == nil {
			t.Errorf("ParseContractHeader(%q) = %v, want an error", in, m)
		}
	}
}

func FuzzParseContractHeader(f *testing.F) {
	for _, s := range []string{"-- rollpin:contract after=acme.volume.v1=1.4", "-- rollpin:contract after=a.v1=1.4,b.v2=2.0", "rollpin:contract", "-- rollpin:allow x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseContractHeader(s)
		if err != nil {
			return
		}
		// A header that parses round-trips through its canonical form.
		again, err := ParseContractHeader("-- rollpin:contract after=" + m.String())
		if err != nil || !again.Equal(m) {
			t.Fatalf("ParseContractHeader(%q) = %v, but its canonical form gives %v, %v", s, m, again, err)
		}
	})
}

func FuzzLint(f *testing.F) {
	for _, s := range []string{
		"-- +goose Up\nALTER TABLE volumes DROP COLUMN size_gb;\n",
		"-- rollpin:contract after=a.v1=1.4\n-- +goose Up\nALTER TABLE volumes ALTER COLUMN name SET NOT NULL; -- rollpin:allow set-not-null-scan x\n",
		"-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY a ON volumes (name);\nDROP INDEX b;\n",
		"-- +goose Up\n-- +goose StatementBegin\nDO $$ BEGIN PERFORM 1; END $$;\n-- +goose StatementEnd\n",
		"-- +goose Up\nALTER TABLE volumes ADD COLUMN x int DEFAULT random(), ADD CONSTRAINT c UNIQUE (x);\nSELECT 'unterminated",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fsys := fstest.MapFS{
			"00001_init.sql": &fstest.MapFile{Data: []byte(base)},
			"00002_fuzz.sql": &fstest.MapFile{Data: []byte(s)},
		}
		got, err := Lint(fsys)
		if err != nil {
			t.Fatalf("Lint: %v", err)
		}
		lines := strings.Count(s, "\n") + 1
		for _, fd := range got {
			if fd.File == "00002_fuzz.sql" && (fd.Line < 1 || fd.Line > lines) {
				t.Fatalf("finding %v points outside the %d-line file", fd, lines)
			}
			if strings.Contains(fd.Message, "\n") {
				t.Fatalf("finding %v spans several lines", fd)
			}
		}
	})
}

func TestRulesInREADME(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		if !strings.Contains(string(b), "| `"+r.ID+"` |") {
			t.Errorf("rule %s has no row in the README's rule table", r.ID)
		}
	}
}
