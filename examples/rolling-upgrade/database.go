package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/migrations"
	"github.com/rollpin/rollpin/internal/pgtest"
)

// database is the demo's third plane: a throwaway PostgreSQL holding the
// volumes table (examples/volume/migrations), which the servers share: 1.3
// servers store size_gb, 1.4 servers size_mib (and size_gb while it
// exists); one 1.4 server backfills size_mib online. pindctl migrate up
// applies the expand at the start and the contract once the pin is 1.4.
type database struct {
	pg  *pgtest.Cluster
	sql *sql.DB
	dsn string
	dir string // the migration files
}

// DBSummary is what a run established about the database plane; zero when
// PostgreSQL was not used.
type DBSummary struct {
	// Used says the run had PostgreSQL.
	Used bool
	// ExpandBefore14: size_mib existed before the first 1.4 server started.
	ExpandBefore14 bool
	// ContractRefused: the first migrate up stopped before the contract
	// (exit 1) while 1.3 servers were live, and size_gb was still there.
	ContractRefused bool
	// ContractApplied: the second migrate up, after the pin rose, dropped
	// size_gb.
	ContractApplied bool
	// Mark is the contract mark line pindctl status showed ("" if none).
	Mark string
	// Seeded is the number of volumes created through 1.3 servers before
	// the upgrade; Unfilled the rows still without size_mib just before
	// the contract (after the backfill).
	Seeded   int
	Unfilled int
	// Readbacks are the readback runs: calls OK of each, in order (after
	// the backfill, after the contract).
	Readbacks []int64
}

// startDatabase starts PostgreSQL and writes the volume migrations to disk.
// Without PostgreSQL (or with Options.NoPostgres) it says so in one line
// and returns nil.
func (r *run) startDatabase(ctx context.Context) *database {
	if r.o.NoPostgres {
		r.tl.event("PostgreSQL not used (-no-postgres): the database plane (volumes table, migrate up, contract mark) is skipped")
		return nil
	}
	if _, err := pgtest.BinDir(); err != nil {
		r.tl.event("PostgreSQL is not installed: the database plane (volumes table, migrate up, contract mark) is skipped")
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
	if err == nil {
		var db *sql.DB
		if db, err = sql.Open("pgx", dsn); err == nil {
			r.tl.event("PostgreSQL started for the volumes table (schema: examples/volume/migrations); servers get its DSN")
			return &database{pg: pg, sql: db, dsn: dsn, dir: dir}
		}
	}
	pg.Stop()
	r.tl.event("database plane skipped: %v", err)
	return nil
}

// migrate runs pindctl migrate up and reports whether it exited 0 (a closed
// gate exits 1 and says why).
func (r *run) migrate(ctx context.Context, db *database) bool {
	if db == nil {
		return false
	}
	_, err := r.pindctl(ctx, "migrate", "up", db.dir, "--dsn", db.dsn)
	return err == nil
}

// hasColumn reports whether the volumes table has column col.
func (db *database) hasColumn(ctx context.Context, col string) bool {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name = 'volumes' AND column_name = $1`, col).Scan(&n)
	return err == nil && n == 1
}

// waitBackfill waits (at most timeout) until no row lacks size_mib and
// returns the number of rows still lacking it.
func (db *database) waitBackfill(ctx context.Context, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		var n int
		if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM volumes WHERE size_mib IS NULL`).Scan(&n); err != nil {
			return -1
		}
		if n == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return n
		}
		fleet.Sleep(ctx, 100*time.Millisecond)
	}
}

// seed creates volumes through the 1.3 servers, for readback later through
// 1.4 servers; it writes their sizes to a file and returns its path and
// their number.
func (r *run) seed(ctx context.Context) (string, int, error) {
	p, err := r.spawn(ctx, "seed-1.3", "1.3", "seed", "-pind", r.pd.addr, "-id", "seed-1.3",
		"-slots", strings.Join(r.addrs, ","), "-n", "24")
	if err != nil {
		return "", 0, err
	}
	rep, err := p.await(ctx, fleet.KindSeeded, 0, 30*time.Second)
	if err != nil {
		return "", 0, fmt.Errorf("%w\n%s", err, p.tail())
	}
	if err := p.wait(15 * time.Second); err != nil {
		return "", 0, err
	}
	b, err := json.Marshal(rep.Volumes)
	if err != nil {
		return "", 0, err
	}
	file := filepath.Join(r.dir, "seeded.json")
	return file, len(rep.Volumes), os.WriteFile(file, b, 0o644)
}

// readback reads the seeded volumes through the (1.4) servers; wrong sizes
// count as lost meaning in the client totals. It returns the calls OK.
func (r *run) readback(ctx context.Context, when, file string) (int64, error) {
	id := "readback-" + when
	p, err := r.spawn(ctx, id, "1.4", "readback", "-pind", r.pd.addr, "-id", id,
		"-slots", strings.Join(r.addrs, ","), "-volumes", file)
	if err != nil {
		return 0, err
	}
	rep, err := p.await(ctx, fleet.KindReadback, 0, 60*time.Second)
	if err != nil {
		return 0, fmt.Errorf("%w\n%s", err, p.tail())
	}
	if err := p.wait(15 * time.Second); err != nil {
		return 0, err
	}
	c := rep.Counts
	r.tl.event("volumes created by 1.3 servers read back through 1.4 servers (%s): %d ok, %d failed, %d wrong size",
		when, c.OK, c.Failed, c.Lost)
	return c.OK, nil
}

// judgeDB returns every broken promise of the database plane.
func judgeDB(d DBSummary) []string {
	if !d.Used {
		return nil
	}
	var p []string
	if !d.ExpandBefore14 {
		p = append(p, "database: the expand (size_mib) was not applied before the first 1.4 server started")
	}
	if !d.ContractRefused {
		p = append(p, "database: the contract migration was not refused while 1.3 servers were live")
	}
	if !d.ContractApplied {
		p = append(p, "database: the contract migration (drop size_gb) did not run after the pin rose")
	}
	if d.Mark == "" {
		p = append(p, "database: pindctl status shows no contract mark")
	}
	if d.Unfilled != 0 {
		p = append(p, fmt.Sprintf("database: %d rows still without size_mib before the contract (backfill)", d.Unfilled))
	}
	if want := int64(3 * d.Seeded); d.Seeded == 0 || len(d.Readbacks) != 2 || d.Readbacks[0] != want || d.Readbacks[1] != want {
		p = append(p, fmt.Sprintf("database: volumes seeded at 1.3 %d, read back ok %v; want both readbacks to succeed", d.Seeded, d.Readbacks))
	}
	return p
}

func (db *database) stop() {
	if db != nil {
		db.sql.Close()
		db.pg.Stop()
	}
}
