package dbgate

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// files builds a migration directory from name -> Up body pairs.
func files(kv ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i+1 < len(kv); i += 2 {
		fsys[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return fsys
}

// ruleLines returns the findings as "FILE:LINE: RULE" for comparison.
func ruleLines(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Rule))
	}
	return out
}

func lint(t *testing.T, fsys fstest.MapFS) []Finding {
	t.Helper()
	got, err := Lint(fsys)
	if err != nil {
		t.Fatalf("Lint: %v", err)
	}
	return got
}

const base = "-- +goose Up\nCREATE TABLE volumes (id bigint PRIMARY KEY, name text, size_gb int);\n-- +goose Down\nDROP TABLE volumes;\n"

func TestLintRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		up   string // the Up body of migration 2; migration 1 creates volumes
		want []string
	}{
		{"drop column", "ALTER TABLE volumes DROP COLUMN size_gb;", []string{"00002_x.sql:2: drop-column"}},
		{"drop table", "DROP TABLE volumes;", []string{"00002_x.sql:2: drop-object"}},
		{"rename column", "ALTER TABLE volumes RENAME COLUMN name TO title;", []string{"00002_x.sql:2: rename-column"}},
		{"rename table", "ALTER TABLE volumes RENAME TO vols;", []string{"00002_x.sql:2: rename-object"}},
		{"rename enum value", "ALTER TYPE state RENAME VALUE 'a' TO 'b';", []string{"00002_x.sql:2: rename-enum-value"}},
		{"type change widening", "ALTER TABLE volumes ALTER COLUMN name TYPE text;", []string{"00002_x.sql:2: change-column-type"}},
		{"type change rewrite", "ALTER TABLE volumes ALTER COLUMN size_gb TYPE bigint;", []string{"00002_x.sql:2: change-column-type", "00002_x.sql:2: type-rewrite"}},
		{"set not null", "ALTER TABLE volumes ALTER COLUMN name SET NOT NULL;", []string{"00002_x.sql:2: set-not-null", "00002_x.sql:2: set-not-null-scan"}},
		{"add not null column", "ALTER TABLE volumes ADD COLUMN zone text NOT NULL;", []string{"00002_x.sql:2: add-not-null-column"}},
		{"add not null column with default", "ALTER TABLE volumes ADD COLUMN zone text NOT NULL DEFAULT 'a';", nil},
		{"drop default", "ALTER TABLE volumes ALTER COLUMN name DROP DEFAULT;", []string{"00002_x.sql:2: drop-default"}},
		{"set default", "ALTER TABLE volumes ALTER COLUMN name SET DEFAULT 'x';", nil},
		{"add check", "ALTER TABLE volumes ADD CONSTRAINT pos CHECK (size_gb > 0);", []string{"00002_x.sql:2: add-constraint", "00002_x.sql:2: constraint-not-valid"}},
		{"add check not valid", "ALTER TABLE volumes ADD CONSTRAINT pos CHECK (size_gb > 0) NOT VALID;", []string{"00002_x.sql:2: add-constraint"}},
		{"add fk", "ALTER TABLE volumes ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES other (id);", []string{"00002_x.sql:2: add-constraint", "00002_x.sql:2: constraint-not-valid"}},
		{"add unique", "ALTER TABLE volumes ADD CONSTRAINT u UNIQUE (name);", []string{"00002_x.sql:2: add-constraint", "00002_x.sql:2: unique-without-index"}},
		{"truncate", "TRUNCATE volumes;", []string{"00002_x.sql:2: truncate"}},
		{"index", "CREATE INDEX vn ON volumes (name);", []string{"00002_x.sql:2: index-not-concurrent"}},
		{"index concurrently in tx", "CREATE INDEX CONCURRENTLY vn ON volumes (name);", []string{"00002_x.sql:2: concurrently-in-transaction"}},
		{"drop index", "DROP INDEX vn;", []string{"00002_x.sql:2: drop-index-not-concurrent"}},
		{"volatile default", "ALTER TABLE volumes ADD COLUMN uid uuid DEFAULT gen_random_uuid();", []string{"00002_x.sql:2: volatile-default"}},
		{"stable default", "ALTER TABLE volumes ADD COLUMN at timestamptz DEFAULT now();", nil},
		{"constant default", "ALTER TABLE volumes ADD COLUMN n int DEFAULT 42;", nil},
		{"serial column", "ALTER TABLE volumes ADD COLUMN seq bigserial;", []string{"00002_x.sql:2: volatile-default"}},
		{"add nullable column", "ALTER TABLE volumes ADD COLUMN zone text;", nil},
		{"new table in same migration", "CREATE TABLE t (a int);\nCREATE INDEX ta ON t (a);\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;",
			[]string{"00002_x.sql:5: set-not-null"}},
		{"validated check makes set not null cheap", "ALTER TABLE volumes ADD CONSTRAINT nn CHECK (name IS NOT NULL) NOT VALID;\n-- rollpin:allow add-constraint every writer sets name\nALTER TABLE volumes VALIDATE CONSTRAINT nn;\nALTER TABLE volumes ALTER COLUMN name SET NOT NULL; -- rollpin:allow set-not-null all writers set name",
			[]string{"00002_x.sql:2: add-constraint"}},
		{"not valid check without validate still scans", "ALTER TABLE volumes ADD CONSTRAINT nn CHECK (name IS NOT NULL) NOT VALID; -- rollpin:allow add-constraint ok\nALTER TABLE volumes ALTER COLUMN name SET NOT NULL; -- rollpin:allow set-not-null ok",
			[]string{"00002_x.sql:3: set-not-null-scan"}},
		{"allow before statement", "-- rollpin:allow index-not-concurrent twenty rows\nCREATE INDEX vn ON volumes (name);", nil},
		{"allow inside statement", "CREATE INDEX vn -- rollpin:allow index-not-concurrent twenty rows\n ON volumes (name);", nil},
		{"allow other rule does not silence", "-- rollpin:allow drop-column wrong rule\nCREATE INDEX vn ON volumes (name);", []string{"00002_x.sql:3: index-not-concurrent"}},
		{"allow trailing applies to its own statement only", "CREATE INDEX a ON volumes (name); -- rollpin:allow index-not-concurrent small\nCREATE INDEX b ON volumes (name);", []string{"00002_x.sql:3: index-not-concurrent"}},
		{"allow without reason", "-- rollpin:allow index-not-concurrent\nCREATE INDEX vn ON volumes (name);", []string{"00002_x.sql:2: bad-directive", "00002_x.sql:3: index-not-concurrent"}},
		{"unknown directive", "-- rollpin:alow index-not-concurrent x\nSELECT 1;", []string{"00002_x.sql:2: bad-directive"}},
		{"text in comments and strings is not SQL", "-- DROP TABLE volumes;\n/* ALTER TABLE volumes DROP COLUMN x; */\nINSERT INTO volumes (name) VALUES ('DROP TABLE volumes');\nDO $$ BEGIN EXECUTE 'TRUNCATE volumes'; END $$;", nil},
		{"syntax error", "SELECT 1;\nALTER TABLE volumes DROPP COLUMN x;", []string{"00002_x.sql:3: syntax-error"}},
		{"unterminated string", "SELECT 'x;", []string{"00002_x.sql:2: syntax-error"}},
		{"statement starts after blank lines", "\n\n   DROP TABLE volumes;", []string{"00002_x.sql:4: drop-object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := lint(t, files("00001_init.sql", base, "00002_x.sql", "-- +goose Up\n"+tt.up+"\n-- +goose Down\nSELECT 1;\n"))
			if diff := cmp.Diff(tt.want, ruleLines(got)); diff != "" {
				t.Errorf("Lint(%q) findings (-want +got):\n%s\nall: %v", tt.up, diff, got)
			}
		})
	}
}

func TestLintNoTransaction(t *testing.T) {
	t.Parallel()
	got := lint(t, files("00001_init.sql", base,
		"00002_idx.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY vn ON volumes (name);\nDROP INDEX CONCURRENTLY vn;\n"))
	if len(got) != 0 {
		t.Errorf("Lint(NO TRANSACTION CONCURRENTLY) = %v, want no findings", got)
	}
}

func TestLintContract(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		file  string
		want  []string
		phase Phase
	}{
		{"contract drops", "-- rollpin:contract after=acme.volume.v1=1.4\n-- +goose Up\nALTER TABLE volumes DROP COLUMN size_gb;\n", nil, Contract},
		{"header after goose up", "-- +goose Up\n-- rollpin:contract after=acme.volume.v1=1.4,acme.types.v1=2.0\nALTER TABLE volumes DROP COLUMN size_gb;\n", nil, Contract},
		{"expand in contract", "-- rollpin:contract after=acme.volume.v1=1.4\n-- +goose Up\nALTER TABLE volumes DROP COLUMN size_gb;\nALTER TABLE volumes ADD COLUMN x int;\nCREATE TABLE y (a int);\n",
			[]string{"00002_c.sql:4: expand-in-contract", "00002_c.sql:5: expand-in-contract"}, Contract},
		{"malformed header", "-- rollpin:contract after=acme.volume.v1=1.x\n-- +goose Up\nALTER TABLE volumes DROP COLUMN size_gb;\n",
			[]string{"00002_c.sql:1: contract-header", "00002_c.sql:3: drop-column"}, Expand},
		{"missing after", "-- rollpin:contract\n-- +goose Up\nALTER TABLE volumes DROP COLUMN size_gb;\n",
			[]string{"00002_c.sql:1: contract-header", "00002_c.sql:3: drop-column"}, Expand},
		{"two headers", "-- rollpin:contract after=a.v1=1.0\n-- rollpin:contract after=b.v1=1.0\n-- +goose Up\nTRUNCATE volumes;\n",
			[]string{"00002_c.sql:2: contract-header", "00002_c.sql:4: truncate"}, Expand},
		{"misplaced header", "-- +goose Up\nTRUNCATE volumes;\n-- rollpin:contract after=a.v1=1.0\nTRUNCATE volumes;\n",
			[]string{"00002_c.sql:3: contract-header", "00002_c.sql:2: truncate", "00002_c.sql:4: truncate"}, Expand},
		{"header in down section is ignored", "-- +goose Up\nSELECT 1;\n-- +goose Down\n-- rollpin:contract after=a.v1=1.0\n", nil, Expand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fsys := files("00001_init.sql", base, "00002_c.sql", tt.file)
			got := lint(t, fsys)
			if diff := cmp.Diff(tt.want, ruleLines(got)); diff != "" {
				t.Errorf("findings (-want +got):\n%s\nall: %v", diff, got)
			}
			migs, _, err := Load(fsys)
			if err != nil {
				t.Fatal(err)
			}
			LintMigrations(migs)
			if migs[1].Phase != tt.phase {
				t.Errorf("phase = %v, want %v", migs[1].Phase, tt.phase)
			}
		})
	}
}

func TestLintFileNameAndOrder(t *testing.T) {
	t.Parallel()
	// 10 sorts after 9 numerically, not as text: the table exists by then.
	got := lint(t, files(
		"9_init.sql", base,
		"10_idx.sql", "-- +goose Up\nCREATE TABLE t (a int);\nCREATE INDEX ta ON t (a);\n",
		"readme.sql", "SELECT 1;",
	))
	want := []string{"readme.sql:1: file-name"}
	if diff := cmp.Diff(want, ruleLines(got)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestFindingString(t *testing.T) {
	f := Finding{File: "m/00002_x.sql", Line: 7, Rule: RuleTruncate, Message: "TRUNCATE volumes: why; fix"}
	if got, want := f.String(), "m/00002_x.sql:7: truncate: TRUNCATE volumes: why; fix"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !strings.Contains(lint(t, files("00001_init.sql", base, "00002_x.sql", "-- +goose Up\nALTER TABLE volumes DROP COLUMN name;\n"))[0].Message, "-- rollpin:contract after=") {
		t.Error("drop-column message does not say how to move it to a contract migration")
	}
}

func TestRulesDocumented(t *testing.T) {
	doc := readDoc(t)
	for _, r := range Rules() {
		if r.What == "" || r.Why == "" || r.Fix == "" {
			t.Errorf("rule %s lacks what, why or fix", r.ID)
		}
		if !strings.Contains(doc, "//\t"+r.ID+" ") {
			t.Errorf("rule %s is missing from the table in doc.go", r.ID)
		}
	}
}
