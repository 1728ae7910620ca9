package dbgate

import (
	"fmt"
	"testing"
	"testing/fstest"
)

// migrationSet builds n realistic migrations: tables, columns, indexes,
// constraints and a contract migration every tenth file.
func migrationSet(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 1; i <= n; i++ {
		var body string
		switch i % 10 {
		case 1:
			body = fmt.Sprintf("-- +goose Up\nCREATE TABLE t%d (id bigint PRIMARY KEY, name text, size_gb int, created timestamptz DEFAULT now());\nCREATE INDEX t%d_name ON t%d (name);\n-- +goose Down\nDROP TABLE t%d;\n", i, i, i, i)
		case 2, 3, 4:
			body = fmt.Sprintf("-- +goose Up\nALTER TABLE t%d ADD COLUMN c%d text;\nALTER TABLE t%d ADD CONSTRAINT k%d CHECK (c%d IS NOT NULL) NOT VALID; -- rollpin:allow add-constraint new writers set it\nALTER TABLE t%d VALIDATE CONSTRAINT k%d;\n-- +goose Down\nALTER TABLE t%d DROP COLUMN c%d;\n", i-i%10+1, i, i-i%10+1, i, i, i-i%10+1, i, i-i%10+1, i)
		case 5:
			body = fmt.Sprintf("-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY t%d_size ON t%d (size_gb);\n", i, i-4)
		case 0:
			body = fmt.Sprintf("-- rollpin:contract after=acme.volume.v1=1.%d\n-- +goose Up\nALTER TABLE t%d DROP COLUMN size_gb;\n", i%100, i-9)
		default:
			body = fmt.Sprintf("-- +goose Up\n-- a comment mentioning DROP TABLE t%d\nINSERT INTO t%d (id, name) VALUES (%d, 'DROP TABLE x');\nUPDATE t%d SET name = lower(name) WHERE id < 100;\n", i, i-i%10+1, i, i-i%10+1)
		}
		fsys[fmt.Sprintf("%05d_m%d.sql", i, i)] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

// BenchmarkLint1000 lints 1,000 migration files; the baseline parses the
// same Up sections without linting.
func BenchmarkLint1000(b *testing.B) {
	fsys := migrationSet(1000)
	b.Run("lint", func(b *testing.B) {
		for b.Loop() {
			if _, err := Lint(fsys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("load-only", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := Load(fsys); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestMigrationSetLintsClean(t *testing.T) {
	got, err := Lint(migrationSet(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("Lint(migrationSet) = %v, want none", got)
	}
}
