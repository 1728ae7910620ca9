// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb in a
// temporary directory, postgres on a free loopback port, one database per
// test.
//
// A test package starts one cluster in TestMain and gives each test its own
// database:
//
//	var pg *pgtest.Cluster
//
//	func TestMain(m *testing.M) {
//		var err error
//		pg, err = pgtest.Start()
//		if err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(1) }
//		code := m.Run()
//		pg.Stop()
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) { dsn := pg.NewDatabase(t) ... }
//
// The server binaries are found with pg_config --bindir, else under
// /usr/lib/postgresql/*/bin. Run as root, initdb and postgres run as the
// postgres user. The port is chosen by trying: postgres is started on a
// random port and started again on another when the port is taken.
package pgtest
