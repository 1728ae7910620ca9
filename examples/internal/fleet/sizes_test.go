package fleet

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"go.uber.org/goleak"

	"github.com/rollpin/rollpin/examples/volume/migrations"
	"github.com/rollpin/rollpin/internal/pgtest"
)

// TestSizesAcrossTheThreeSteps plays the volumes table through expand,
// migrate and contract on a real PostgreSQL: a size a 1.3 server wrote
// reads back right through a 1.4 server before the backfill (fallback),
// after it, and after the contract dropped size_gb, while the 1.4 server
// keeps writing.
func TestSizesAcrossTheThreeSteps(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	defer pg.Stop()
	dsn := pg.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 2); err != nil { // 1.3's table and the expand
		t.Fatalf("expand: %v", err)
	}

	v13, err := OpenSizes(dsn, false)
	if err != nil {
		t.Fatal(err)
	}
	defer v13.Close()
	v14, err := OpenSizes(dsn, true)
	if err != nil {
		t.Fatal(err)
	}
	defer v14.Close()
	get := func(s *Sizes, id string, want int64) {
		t.Helper()
		_, mib, ok, err := s.Get(ctx, id)
		if err != nil || !ok || mib != want {
			t.Errorf("Get(%s) = %d MiB, found %t, err %v; want %d MiB", id, mib, ok, err, want)
		}
	}
	for _, id := range []string{"old-1", "old-2", "old-3"} {
		if err := v13.Put(ctx, id, id, 5*1024); err != nil {
			t.Fatalf("1.3 Put: %v", err)
		}
	}
	if err := v14.Put(ctx, "new-1", "new-1", 1536); err != nil {
		t.Fatalf("1.4 Put: %v", err)
	}
	get(v13, "old-1", 5*1024)
	get(v14, "old-1", 5*1024) // size_mib NULL: size_gb*1024
	get(v14, "new-1", 1536)

	bctx, stop := context.WithCancel(ctx)
	var n int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		v14.Backfill(bctx, 2, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), func(k int64) {
			n += k
			if n == 3 {
				stop()
			}
		})
	}()
	<-done
	stop()
	var unfilled int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM volumes WHERE size_mib IS NULL`).Scan(&unfilled); err != nil {
		t.Fatal(err)
	}
	if n != 3 || unfilled != 0 {
		t.Fatalf("backfill set %d rows, %d left without size_mib; want 3 and 0", n, unfilled)
	}
	get(v14, "old-2", 5*1024)

	if _, err := p.UpTo(ctx, 3); err != nil { // the contract
		t.Fatalf("contract: %v", err)
	}
	get(v14, "old-3", 5*1024)
	if err := v14.Put(ctx, "new-2", "new-2", 3000); err != nil {
		t.Fatalf("1.4 Put after the contract: %v", err)
	}
	get(v14, "new-2", 3000)
	if v14.gb.Load() {
		t.Errorf("the 1.4 side still names size_gb after the contract")
	}
	// A backfill still running stops by itself once size_gb is gone.
	if got := v14.Backfill(ctx, 2, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), func(int64) {}); got != 0 {
		t.Errorf("backfill after the contract set %d rows, want 0", got)
	}
}
