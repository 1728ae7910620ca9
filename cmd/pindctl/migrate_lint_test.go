package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// migrationDir writes name -> content files into a new directory.
func migrationDir(t *testing.T, kv ...string) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := os.WriteFile(filepath.Join(dir, kv[i]), []byte(kv[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runCtl(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, streams{Out: &out, Err: &errb})
	return result{code: code, out: out.String(), err: errb.String()}
}

func TestMigrateLint(t *testing.T) {
	t.Parallel()
	dir := migrationDir(t,
		"00001_init.sql", "-- +goose Up\nCREATE TABLE volumes (id bigint PRIMARY KEY, size_gb int);\n-- +goose Down\nDROP TABLE volumes;\n",
		"00002_drop.sql", "-- +goose Up\n\nALTER TABLE volumes DROP COLUMN size_gb;\n",
	)
	r := runCtl(t, "migrate", "lint", dir)
	want := filepath.Join(dir, "00002_drop.sql") + ":3: drop-column: DROP COLUMN volumes.size_gb: "
	if r.code != exitFailed || !strings.HasPrefix(r.out, want) || strings.Count(r.out, "\n") != 1 {
		t.Errorf("migrate lint = %d, stdout %q, stderr %q; want exit 1 and one line starting %q", r.code, r.out, r.err, want)
	}

	clean := migrationDir(t, "00001_init.sql", "-- +goose Up\nCREATE TABLE volumes (id bigint);\n")
	if r := runCtl(t, "migrate", "lint", clean); r.code != exitOK || r.out != "" {
		t.Errorf("migrate lint (clean) = %d, %q, %q; want exit 0 and no output", r.code, r.out, r.err)
	}
	for _, args := range [][]string{{"migrate", "lint"}, {"migrate", "lint", filepath.Join(dir, "missing")}, {"migrate", "lint", dir, dir}} {
		if r := runCtl(t, args...); r.code != exitUsage {
			t.Errorf("%v = %d (%s), want exit 2", args, r.code, r.err)
		}
	}
}
