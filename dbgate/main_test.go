package dbgate

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rollpin/rollpin/internal/pgtest"
	"github.com/rollpin/rollpin/internal/pindtest"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// pg is the package's throwaway PostgreSQL cluster; each test gets a
// database of its own.
var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	var err error
	pg, err = pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

const volumeSvc = "acme.volume.v1.VolumeService"

// startPind starts etcd and a pind serving gRPC on 127.0.0.1:0 and returns
// a client; everything stops with the test.
func startPind(t testing.TB) (rollpinv1.PinServiceClient, *pinsvc.Server) {
	t.Helper()
	p := pindtest.Start(t)
	return p.Client, p.Server
}

// registerInstance keeps an instance registered until leave is called or
// the test ends.
func registerInstance(t testing.TB, c rollpinv1.PinServiceClient, id, manifest string) (leave func()) {
	t.Helper()
	return pindtest.Register(t, context.Background(), c, &rollpinv1.RegisterRequest{Instance: &rollpinv1.Instance{Id: id, Manifest: manifest, Build: "test"}, Services: []string{volumeSvc}})
}

func setPin(t testing.TB, c rollpinv1.PinServiceClient, v string) {
	t.Helper()
	if _, err := c.SetPin(context.Background(), &rollpinv1.SetPinRequest{Service: volumeSvc, Manifest: v, Force: true, Reason: "test"}); err != nil {
		t.Fatalf("SetPin(%s): %v", v, err)
	}
}

// waitInstances waits until pind lists exactly n instances of volumeSvc.
func waitInstances(t testing.TB, c rollpinv1.PinServiceClient, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.GetPins(context.Background(), &rollpinv1.GetPinsRequest{})
		if err == nil {
			got := 0
			for _, s := range r.GetServices() {
				if s.GetService() == volumeSvc {
					got = len(s.GetInstances())
				}
			}
			if got == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pind does not list %d instances of %s", n, volumeSvc)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// volumeMigrations is the example's schema history: 1.3 stores size_gb,
// 1.4 adds size_mib, the contract drops size_gb once 1.4 is everywhere.
func volumeMigrations(extra ...string) fstest.MapFS {
	fsys := files(
		"00001_volumes.sql", "-- +goose Up\nCREATE TABLE volumes (id bigint PRIMARY KEY, name text NOT NULL, size_gb int);\nINSERT INTO volumes VALUES (1, 'a', 2);\n-- +goose Down\nDROP TABLE volumes;\n",
		"00002_size_mib.sql", "-- +goose Up\nALTER TABLE volumes ADD COLUMN size_mib bigint;\n-- +goose Down\nALTER TABLE volumes DROP COLUMN size_mib;\n",
		"00003_drop_size_gb.sql", "-- rollpin:contract after=acme.volume.v1=1.4\n-- +goose Up\nALTER TABLE volumes DROP COLUMN size_gb;\n-- +goose Down\nALTER TABLE volumes ADD COLUMN size_gb int;\n",
	)
	for i := 0; i+1 < len(extra); i += 2 {
		fsys[extra[i]] = &fstest.MapFile{Data: []byte(extra[i+1])}
	}
	return fsys
}

func hasColumn(t testing.TB, db *sql.DB, table, col string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM information_schema.columns WHERE table_name = $1 AND column_name = $2", table, col).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func marks(t testing.TB, c rollpinv1.PinServiceClient) string {
	t.Helper()
	r, err := c.ListContracts(context.Background(), &rollpinv1.ListContractsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range r.GetMarks() {
		out = append(out, fmt.Sprintf("%s=%s %s %s", m.GetTrack(), m.GetVersion(), m.GetMigration(), strings.TrimPrefix(m.GetState().String(), "CONTRACT_STATE_")))
	}
	return strings.Join(out, "; ")
}

func newRunner(t testing.TB, db *sql.DB, fsys fstest.MapFS, c rollpinv1.PinServiceClient, opts ...Option) *Runner {
	t.Helper()
	r, err := NewRunner(db, fsys, c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
