package main

import (
	"github.com/spf13/cobra"
)

// newMigrateCmd is `pindctl migrate`: database migrations gated on pins.
func newMigrateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Lint, gate and run PostgreSQL migrations (expand / contract)",
		Long: `migrate works on a directory of goose SQL migrations (NNNNN_name.sql with
-- +goose Up / -- +goose Down). A migration whose header says

  -- rollpin:contract after=acme.volume.v1=1.4

is a contract migration: it removes what old code needs and may run only
once every service using the track is pinned at or above 1.4 and every live
instance runs it. Every other migration is an expand migration and runs at
once.

  lint  checks the migrations with PostgreSQL's parser (no database needed)
  gate  tells whether each pending contract migration may run, and what blocks it
  up    applies pending migrations: expand at once, contract through the gate`,
		Args: noSubcommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newMigrateLintCmd(a), newMigrateGateCmd(a), newMigrateUpCmd(a))
	return cmd
}
