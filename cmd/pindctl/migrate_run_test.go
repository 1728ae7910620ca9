package main

import (
	"strings"
	"testing"
	"time"
)

const volumeService = "acme.volume.v1.VolumeService"

func volumeMigrationDir(t *testing.T) string {
	return migrationDir(t,
		"00001_volumes.sql", "-- +goose Up\nCREATE TABLE volumes (id bigint PRIMARY KEY, size_gb int);\n-- +goose Down\nDROP TABLE volumes;\n",
		"00002_size_mib.sql", "-- +goose Up\nALTER TABLE volumes ADD COLUMN size_mib bigint;\n",
		"00003_drop_size_gb.sql", "-- rollpin:contract after=acme.volume.v1=1.4\n-- +goose Up\nALTER TABLE volumes DROP COLUMN size_gb;\n",
	)
}

func TestMigrateGateUpAndContractMarks(t *testing.T) {
	t.Parallel()
	p := startPind(t)
	dsn := postgres(t).NewDatabase(t)
	dir := volumeMigrationDir(t)
	leaveOld := p.register(t, "vol-a", "acme.volume.v1=1.3", volumeService)
	p.register(t, "vol-b", "acme.volume.v1=1.4", volumeService)
	expect(t, p.admin(t, "pin", "set", "VolumeService", "1.3", "--force"), exitOK, "")

	expect(t, p.admin(t, "migrate", "gate", dir, "--dsn", dsn), exitFailed, "00003_drop_size_gb.sql: acme.volume.v1=1.4 is not reached: ")
	expect(t, p.admin(t, "migrate", "gate", dir, "--dsn", dsn), exitFailed, "instance vol-a of acme.volume.v1.VolumeService runs acme.volume.v1=1.3")

	r := p.admin(t, "migrate", "up", dir, "--dsn", dsn)
	expect(t, r, exitFailed, "00003_drop_size_gb.sql stops here")
	expect(t, r, exitFailed, "00002_size_mib.sql: applied (expand)")
	if strings.Count(r.err, "\n") != 1 {
		t.Errorf("stderr of a stopped up is not one line: %q", r.err)
	}

	// up --wait returns once the fleet has moved.
	res := make(chan result, 1)
	go func() { res <- p.admin(t, "migrate", "up", dir, "--dsn", dsn, "--wait", "--timeout", "60s") }()
	time.Sleep(100 * time.Millisecond) // let it start waiting; correctness does not depend on it
	leaveOld()
	// The old instance's leave reaches pind asynchronously: wait for it.
	expect(t, p.admin(t, "wait", "VolumeService", "--for", "floor=1.4", "--timeout", "30s"), exitOK, "")
	expect(t, p.admin(t, "pin", "set", "VolumeService", "1.4"), exitOK, "")
	r = <-res
	expect(t, r, exitOK, "00003_drop_size_gb.sql: applied (contract after acme.volume.v1=1.4)")

	expect(t, p.admin(t, "status"), exitOK, "acme.volume.v1  1.4    00003_drop_size_gb.sql  applied")
	expect(t, p.admin(t, "pin", "lower", "VolumeService", "1.3"), exitFailed, "below the contract mark acme.volume.v1=1.4")
	expect(t, p.admin(t, "pin", "lower", "VolumeService", "1.3", "--force-past-contract", "--reason", "schema restored"), exitOK, "")
	expect(t, p.admin(t, "migrate", "up", dir, "--dsn", dsn), exitOK, "nothing to apply")
	expect(t, p.admin(t, "migrate", "gate", dir, "--dsn", dsn), exitOK, "no pending contract migration")
}

func TestMigrateBadInput(t *testing.T) {
	t.Parallel()
	p := startPind(t)
	dir := volumeMigrationDir(t)
	r := p.admin(t, "migrate", "up", dir, "--dsn", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	expect(t, r, exitFailed, "cannot connect to the database (--dsn)")
	if strings.Count(r.err, "\n") != 1 {
		t.Errorf("bad DSN error is not one line: %q", r.err)
	}
	expect(t, p.admin(t, "migrate", "up", dir), exitUsage, "--dsn is required")

	dsn := postgres(t).NewDatabase(t)
	p.register(t, "vol-b", "acme.volume.v1=1.4", volumeService)
	unknown := migrationDir(t, "00001_c.sql", "-- rollpin:contract after=acme.volumes.v1=1.4\n-- +goose Up\nSELECT 1;\n")
	expect(t, p.admin(t, "migrate", "up", unknown, "--dsn", dsn), exitFailed, "no service uses the track acme.volumes.v1")
	expect(t, p.admin(t, "migrate", "gate", unknown, "--dsn", dsn), exitFailed, "no service uses the track acme.volumes.v1")
}
