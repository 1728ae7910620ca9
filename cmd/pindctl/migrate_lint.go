package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rollpin/rollpin/dbgate"
)

// newMigrateLintCmd is `pindctl migrate lint DIR`.
func newMigrateLintCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "lint DIR",
		Short: "Report contracting, misplaced and lock-heavy statements in migrations",
		Long: `lint parses the Up section of every migration in DIR with PostgreSQL's own
parser, in version order, and prints one finding per line:

  FILE:LINE: RULE-ID: message

It reports contracting operations outside contract migrations, expand work
inside them, malformed rollpin:contract headers, and statements that lock a
live table for long (verdicts assume PostgreSQL 15). Silence a finding on
purpose with a comment on the statement:

  -- rollpin:allow RULE-ID reason

The rule table (what, why, fix) is in the dbgate package documentation.
lint does not contact pind or a database. Exit code 1 when it finds
anything, 0 when clean, 2 on bad arguments.`,
		Example: `  pindctl migrate lint db/migrations`,
		Args:    exactArgs(1, "the migrations directory (DIR)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return usagef("%s is not a directory of migrations", dir)
			}
			findings, err := dbgate.Lint(os.DirFS(dir))
			if err != nil {
				return err
			}
			for _, f := range findings {
				f.File = filepath.Join(dir, f.File)
				fmt.Fprintln(a.Out, f.String())
			}
			if len(findings) > 0 {
				return fmt.Errorf("%d finding(s) in %s; fix each as its line says, or silence it with -- rollpin:allow RULE-ID reason", len(findings), dir)
			}
			return nil
		},
	}
}
