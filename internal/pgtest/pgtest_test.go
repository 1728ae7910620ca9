package pgtest

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

func TestStartQueryStop(t *testing.T) {
	c, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRowContext(ctx, "SHOW server_version_num").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v < 150000 {
		t.Errorf("server_version_num = %d, want PostgreSQL 15 or later", v)
	}
	// A second cluster gets its own port while the first runs.
	c2, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Stop()
	if c2.Port() == c.Port() {
		t.Errorf("two clusters share port %d", c.Port())
	}
}
