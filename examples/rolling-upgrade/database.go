package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/rollpin/rollpin/examples/volume/migrations"
	"github.com/rollpin/rollpin/internal/pgtest"
)

// database is the demo's third plane: a throwaway PostgreSQL holding the
// volume schema, migrated with pindctl migrate up. The servers do not use
// the table; the demo shows the gate and the contract mark.
type database struct {
	pg  *pgtest.Cluster
	dsn string
	dir string // the migration files
}

// startDatabase starts PostgreSQL and writes the volume migrations to disk.
// Without PostgreSQL it says so in one line and returns nil.
func (r *run) startDatabase(ctx context.Context) *database {
	if _, err := pgtest.BinDir(); err != nil {
		r.tl.event("PostgreSQL is not installed: the database plane (migrate up, contract mark) is skipped")
		return nil
	}
	dir := filepath.Join(r.dir, "migrations")
	if err := os.CopyFS(dir, migrations.FS); err != nil {
		r.tl.event("database plane skipped: %v", err)
		return nil
	}
	pg, err := pgtest.Start()
	if err != nil {
		r.tl.event("database plane skipped: %v", err)
		return nil
	}
	dsn, err := pg.CreateDatabase(ctx)
	if err != nil {
		pg.Stop()
		r.tl.event("database plane skipped: %v", err)
		return nil
	}
	r.tl.event("PostgreSQL started for the volume table (schema: examples/volume/migrations)")
	return &database{pg: pg, dsn: dsn, dir: dir}
}

// migrate runs pindctl migrate up (a closed gate exits 1 and says why).
func (r *run) migrate(ctx context.Context, db *database) {
	if db != nil {
		r.pindctl(ctx, "migrate", "up", db.dir, "--dsn", db.dsn)
	}
}

func (db *database) stop() {
	if db != nil {
		db.pg.Stop()
	}
}
