// Package dbgate is rollpin's database plane: it lints goose migrations for
// PostgreSQL, gates contract migrations on version pins, and runs them.
//
// Old and new instances of a service share one database during a rolling
// upgrade. A migration that drops, renames or retypes what old code still
// uses breaks the old instances the moment it runs, and a migration that
// holds a long exclusive lock stalls both. dbgate enforces OpenStack's
// expand / migrate / contract process: additive expand migrations run
// before the upgrade, data moves online in the new code, and contract
// migrations run only once no old instance is left — which pind knows: the
// pin.
//
// # Migration files
//
// Migrations are goose SQL files (NNNNN_name.sql with -- +goose Up and
// -- +goose Down sections, -- +goose NO TRANSACTION). A contract migration
// names the manifest that must be reached before it may run, in a comment
// before its first statement:
//
//	-- rollpin:contract after=acme.volume.v1=1.4
//	-- +goose Up
//	ALTER TABLE volumes DROP COLUMN size_gb;
//
// Several tracks are separated by commas (after=a.v1=1.4,b.v1=2.1). Every
// other file is an expand migration; so is a file whose header is
// malformed (the linter reports it, and Up refuses to run it).
//
// # Lint
//
// Lint parses every Up section with PostgreSQL's own parser (pg_query_go),
// so text in comments, string literals and dollar-quoted bodies is never
// flagged, and reads the migrations in order, tracking what earlier
// statements did: a table created earlier in the same migration is new and
// empty (indexing it is harmless); a validated CHECK (col IS NOT NULL) makes
// a later SET NOT NULL cheap. Verdicts that depend on the server version
// assume PostgreSQL 15. Each finding prints as
//
//	FILE:LINE: RULE-ID: message
//
// where LINE is the line the offending statement starts on. A finding is
// silenced on purpose by a comment on the statement (before it, inside it,
// or after it on its last line):
//
//	-- rollpin:allow index-not-concurrent the table holds 20 rows
//	CREATE INDEX volumes_name ON volumes (name);
//
// In a Go test, the way Nova bans operations:
//
//	findings, err := dbgate.Lint(os.DirFS("migrations"))
//	if err != nil || len(findings) > 0 { t.Fatal(err, findings) }
//
// # Rules
//
// Phase rules report contracting operations in expand migrations:
//
//	drop-column          DROP COLUMN: old instances still read and write the column.
//	drop-object          DROP TABLE/VIEW/MATERIALIZED VIEW/SEQUENCE/TYPE/DOMAIN/FUNCTION/SCHEMA: old instances still use it.
//	rename-column        RENAME COLUMN: old instances use the old name. Fix: add, write both, backfill, drop in a contract migration.
//	rename-object        RENAME of a table, view, sequence, type or schema: same.
//	rename-enum-value    ALTER TYPE ... RENAME VALUE: old instances write the old label.
//	change-column-type   ALTER COLUMN TYPE: old instances read and write the old type. Fix: new column + backfill.
//	set-not-null         SET NOT NULL: old instances may still write NULL.
//	add-not-null-column  ADD COLUMN ... NOT NULL without DEFAULT: old INSERTs omit it and fail. Fix: a DEFAULT, or nullable now and SET NOT NULL later.
//	drop-default         DROP DEFAULT: old instances omit the column and rely on it.
//	add-constraint       ADD CHECK/FOREIGN KEY/UNIQUE/PRIMARY KEY/EXCLUDE on an existing table: refuses rows old code writes, even NOT VALID.
//	truncate             TRUNCATE: removes rows old instances read.
//
// The fix for each is "move it to a contract migration:
// -- rollpin:contract after=<track>=<version>". Contract migrations have
// their own rules:
//
//	expand-in-contract   CREATE TABLE/INDEX/TYPE/FUNCTION/VIEW/SEQUENCE, ADD COLUMN, ADD VALUE in a contract migration:
//	                     the new code needs it before it starts, but the contract waits. Fix: an expand migration.
//	contract-header      a malformed, repeated or misplaced rollpin:contract header: the file counts as expand.
//
// Lock rules apply in every migration, to tables not created in the same
// migration:
//
//	index-not-concurrent         CREATE INDEX without CONCURRENTLY blocks writes while it builds.
//	                             Fix: CREATE INDEX CONCURRENTLY in a NO TRANSACTION migration.
//	concurrently-in-transaction  CREATE/DROP INDEX CONCURRENTLY or REINDEX CONCURRENTLY in a transaction: PostgreSQL refuses it.
//	                             Fix: alone in a -- +goose NO TRANSACTION migration.
//	constraint-not-valid         ADD FOREIGN KEY/CHECK without NOT VALID scans the table under a write-blocking lock.
//	                             Fix: ADD ... NOT VALID, then VALIDATE CONSTRAINT.
//	unique-without-index         ADD UNIQUE/PRIMARY KEY without USING INDEX builds the index under ACCESS EXCLUSIVE.
//	                             Fix: CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX.
//	volatile-default             ADD COLUMN with a volatile default (random(), gen_random_uuid(), clock_timestamp(), nextval,
//	                             serial, identity, stored generated): PostgreSQL 15 rewrites the table.
//	                             Fix: no default or a constant, SET DEFAULT afterwards, backfill in batches.
//	type-rewrite                 ALTER COLUMN TYPE that is not binary coercible (or has USING) rewrites the table.
//	                             Free in PostgreSQL 15: varchar/numeric/varbit widening, varchar->text, cidr->inet.
//	set-not-null-scan            SET NOT NULL without a validated CHECK (col IS NOT NULL) scans under ACCESS EXCLUSIVE.
//	                             Fix: ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c; SET NOT NULL.
//	drop-index-not-concurrent    DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE. Fix: DROP INDEX CONCURRENTLY.
//
// File rules:
//
//	syntax-error    the Up section does not parse (reported, never a crash; the rest of the file is not checked).
//	bad-directive   a malformed -- rollpin: comment (unknown directive, allow without rule or reason).
//	file-name       a .sql file goose cannot order (not <version>_<name>.sql).
//
// Rules returns the same table with what, why and fix for each rule.
//
// # Gate and run
//
// Ready tells whether a manifest is reached: the pin of every service whose
// pin or live instances name the track is at or above it, and every live
// instance runs at or above it; otherwise it names the blocking instances.
// Wait blocks, driven by pind's WatchPins stream, until it holds. Runner
// applies pending migrations with goose's provider API: expand migrations
// at once, contract migrations only through the gate. Applying a contract
// migration records a contract mark in pind (see pinsvc): pins of its
// tracks can no longer be lowered below the mark, and older instances are
// fenced.
package dbgate
