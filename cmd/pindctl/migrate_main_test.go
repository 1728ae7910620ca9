package main

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/rollpin/rollpin/internal/pgtest"
)

// The PostgreSQL cluster of the migrate tests, started by the first test
// that needs it and stopped when the package's tests end.
var (
	pgOnce    sync.Once
	pgCluster *pgtest.Cluster
	pgErr     error
)

func postgres(t *testing.T) *pgtest.Cluster {
	t.Helper()
	pgOnce.Do(func() { pgCluster, pgErr = pgtest.Start() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	return pgCluster
}

// stopPostgres runs the tests, then stops the PostgreSQL cluster if one
// was started; TestMain (main_test.go) checks for leaks after it.
type stopPostgres struct{ m *testing.M }

func (s stopPostgres) Run() int {
	code := s.m.Run()
	if pgCluster != nil {
		if err := pgCluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	return code
}
