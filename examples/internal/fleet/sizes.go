package fleet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// undefinedColumn is PostgreSQL's SQLSTATE for a column that does not exist.
const undefinedColumn = "42703"

// Sizes is the volumes table of examples/volume/migrations, shared by every
// server instance: each volume's name and size by id. A 1.3 server writes
// and reads size_gb; a 1.4 server writes size_gb and size_mib and reads
// size_mib, falling back to size_gb*1024 for a row a 1.3 server wrote and
// the backfill has not reached yet. Once the contract migration has dropped
// size_gb, a 1.4 server's statement naming it fails with SQLSTATE 42703: the
// server then retries without it and never names it again. Safe for
// concurrent use.
type Sizes struct {
	db  *sql.DB
	mib bool        // the 1.4 schema: size_mib
	gb  atomic.Bool // size_gb still exists (as far as this instance knows)
}

// OpenSizes opens the table at dsn; mib says the caller is a 1.4 server.
// The connection is made at the first statement.
func OpenSizes(dsn string, mib bool) (*Sizes, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("fleet: database DSN: %w", err)
	}
	// No cached prepared statements: the contract migration changes the
	// table's columns under the running servers.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	s := &Sizes{db: stdlib.OpenDB(*cfg), mib: mib}
	s.gb.Store(true)
	return s, nil
}

// Close closes the connections.
func (s *Sizes) Close() error { return s.db.Close() }

// RowID is the table's bigint key of volume id.
func RowID(id string) int64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int64(h.Sum64() >> 1)
}

// withGB runs the statement naming size_gb while it exists, and the one not
// naming it once a statement found it gone.
func (s *Sizes) withGB(withGB, without func() error) error {
	if s.gb.Load() {
		err := withGB()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != undefinedColumn || !s.mib {
			return err
		}
		s.gb.Store(false)
	}
	return without()
}

// Put writes the size of volume id (in MiB; a 1.3 server passes whole GiB
// times 1024) and its name, replacing an earlier row of id.
func (s *Sizes) Put(ctx context.Context, id, name string, mib int64) error {
	gb := (mib + 1023) / 1024
	if !s.mib {
		_, err := s.db.ExecContext(ctx, `INSERT INTO volumes (id, name, size_gb) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET name = $2, size_gb = $3`, RowID(id), name, gb)
		return wrap("write size_gb", err)
	}
	return wrap("write size_mib", s.withGB(func() error {
		_, err := s.db.ExecContext(ctx, `INSERT INTO volumes (id, name, size_gb, size_mib) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET name = $2, size_gb = $3, size_mib = $4`, RowID(id), name, gb, mib)
		return err
	}, func() error {
		_, err := s.db.ExecContext(ctx, `INSERT INTO volumes (id, name, size_mib) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET name = $2, size_mib = $3`, RowID(id), name, mib)
		return err
	}))
}

// Get returns the name and size in MiB of volume id; ok is false when the
// table has no row of id.
func (s *Sizes) Get(ctx context.Context, id string) (name string, mib int64, ok bool, err error) {
	scan := func(q string) error {
		err := s.db.QueryRowContext(ctx, q, RowID(id)).Scan(&name, &mib)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		ok = err == nil
		return err
	}
	switch {
	case !s.mib:
		err = scan(`SELECT name, size_gb::bigint * 1024 FROM volumes WHERE id = $1`)
	default:
		err = s.withGB(func() error {
			return scan(`SELECT name, COALESCE(size_mib, size_gb::bigint * 1024) FROM volumes WHERE id = $1`)
		}, func() error {
			return scan(`SELECT name, size_mib FROM volumes WHERE id = $1`)
		})
	}
	return name, mib, ok, wrap("read size", err)
}

// Backfill is the online data migration of API 1.4: until ctx is done, it
// sets size_mib of the rows a 1.3 server wrote, batch rows per statement
// (each statement its own short transaction, skipping rows locked by a
// writer), then looks again every pause, as 1.3 servers may still be
// writing. It stops once size_gb is gone (the contract migration ran) and
// returns the number of rows it set.
func (s *Sizes) Backfill(ctx context.Context, batch int, pause time.Duration, log *slog.Logger, done func(n int64)) int64 {
	var total int64
	for ctx.Err() == nil {
		res, err := s.db.ExecContext(ctx, `UPDATE volumes SET size_mib = size_gb::bigint * 1024
			WHERE id IN (SELECT id FROM volumes WHERE size_mib IS NULL LIMIT $1 FOR UPDATE SKIP LOCKED)`, batch)
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == undefinedColumn:
			return total // contracted: nothing left to move
		case err != nil:
			if ctx.Err() == nil {
				log.Warn("backfill of size_mib", "err", err)
			}
			Sleep(ctx, pause)
			continue
		}
		n, _ := res.RowsAffected()
		total += n
		if n > 0 {
			done(n)
		}
		if n < int64(batch) {
			Sleep(ctx, pause)
		}
	}
	return total
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("fleet: %s: %w", what, err)
	}
	return nil
}
