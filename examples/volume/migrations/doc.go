// Package migrations holds the volume example's database schema as goose
// migrations, gated on the volume API's pin: 00001 is what 1.3 uses
// (size_gb), 00002 the expand step for 1.4 (size_mib, backfilled online by
// 1.4 servers), 00003 the contract step that drops size_gb once
// acme.volume.v1=1.4 is reached.
//
//	pindctl migrate lint examples/volume/migrations
//	pindctl migrate up examples/volume/migrations --dsn "$DSN"
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
