package dbgate

// Rule IDs. They are stable: tests and allow comments name them. The table
// in the package documentation says, for each, what it finds, why it
// matters and how to fix it.
const (
	// Phase rules: contracting operations outside a contract migration.
	RuleDropColumn       = "drop-column"
	RuleDropObject       = "drop-object"
	RuleRenameColumn     = "rename-column"
	RuleRenameObject     = "rename-object"
	RuleRenameEnumValue  = "rename-enum-value"
	RuleChangeColumnType = "change-column-type"
	RuleSetNotNull       = "set-not-null"
	RuleAddNotNullColumn = "add-not-null-column"
	RuleDropDefault      = "drop-default"
	RuleAddConstraint    = "add-constraint"
	RuleTruncate         = "truncate"

	// Phase rules: contract migrations.
	RuleExpandInContract = "expand-in-contract"
	RuleContractHeader   = "contract-header"

	// Lock rules: statements that lock a live table for long.
	RuleIndexNotConcurrent     = "index-not-concurrent"
	RuleConcurrentlyInTx       = "concurrently-in-transaction"
	RuleConstraintNotValid     = "constraint-not-valid"
	RuleUniqueWithoutIndex     = "unique-without-index"
	RuleVolatileDefault        = "volatile-default"
	RuleTypeRewrite            = "type-rewrite"
	RuleSetNotNullScan         = "set-not-null-scan"
	RuleDropIndexNotConcurrent = "drop-index-not-concurrent"

	// File rules.
	RuleSyntaxError  = "syntax-error"
	RuleBadDirective = "bad-directive"
	RuleFileName     = "file-name"
)

// Rule documents one lint rule.
type Rule struct {
	// ID is the stable identifier printed in findings and named by
	// "-- rollpin:allow ID reason".
	ID string
	// What the rule finds.
	What string
	// Why it matters while old and new code share the database.
	Why string
	// Fix says how to write the migration instead.
	Fix string
}

// rules is the one table of rules; doc.go and the README show it.
var rules = []Rule{
	{RuleDropColumn, "ALTER TABLE ... DROP COLUMN outside a contract migration", "old instances still read and write the column", "move it to a contract migration: -- rollpin:contract after=<track>=<version that stopped using it>"},
	{RuleDropObject, "DROP TABLE / VIEW / MATERIALIZED VIEW / SEQUENCE / TYPE / DOMAIN / FUNCTION / SCHEMA outside a contract migration", "old instances still use the object", "move it to a contract migration"},
	{RuleRenameColumn, "RENAME COLUMN outside a contract migration", "old instances use the old name", "add the new column (expand), write both and backfill (migrate), drop the old one in a contract migration"},
	{RuleRenameObject, "RENAME of a table, view, sequence, type or schema outside a contract migration", "old instances use the old name", "create the new object (or a view under the new name) and drop the old one in a contract migration"},
	{RuleRenameEnumValue, "ALTER TYPE ... RENAME VALUE outside a contract migration", "old instances write and compare the old label", "add the new value (expand), migrate rows, rename or stop using the old one in a contract migration"},
	{RuleChangeColumnType, "ALTER COLUMN ... TYPE outside a contract migration", "old instances read and write the old type", "add a column of the new type, write both and backfill, drop the old one in a contract migration"},
	{RuleSetNotNull, "ALTER COLUMN ... SET NOT NULL outside a contract migration", "old instances may still write NULL (they may not know the column)", "move it to a contract migration after every instance writes the column"},
	{RuleAddNotNullColumn, "ADD COLUMN ... NOT NULL without a DEFAULT", "old instances' INSERTs do not name the column and fail", "give the column a DEFAULT, or add it nullable and SET NOT NULL in a contract migration"},
	{RuleDropDefault, "ALTER COLUMN ... DROP DEFAULT outside a contract migration", "old instances rely on the default when they omit the column", "move it to a contract migration"},
	{RuleAddConstraint, "ADD CHECK / FOREIGN KEY / UNIQUE / PRIMARY KEY / EXCLUDE on an existing table outside a contract migration", "the constraint refuses rows old instances write (also when added NOT VALID: NOT VALID only skips the existing rows)", "move it to a contract migration (added NOT VALID, validated in a later statement)"},
	{RuleTruncate, "TRUNCATE outside a contract migration", "removes data old instances still read", "move it to a contract migration"},
	{RuleExpandInContract, "expand work (CREATE TABLE / INDEX / TYPE / FUNCTION / VIEW / SEQUENCE, ADD COLUMN, ADD VALUE) inside a contract migration", "it waits for the gate although the new code needs it before it starts", "move it to an expand migration that runs before the upgrade"},
	{RuleContractHeader, "a malformed or misplaced -- rollpin:contract header", "the file is then treated as an expand migration and runs at once", "write -- rollpin:contract after=<track>=<MAJOR.MINOR>[,<track>=<MAJOR.MINOR>...] once, before the first statement"},
	{RuleIndexNotConcurrent, "CREATE INDEX without CONCURRENTLY on a table not created in the same migration", "blocks every write to the table while the index is built", "CREATE INDEX CONCURRENTLY in a -- +goose NO TRANSACTION migration"},
	{RuleConcurrentlyInTx, "CREATE / DROP INDEX CONCURRENTLY or REINDEX CONCURRENTLY inside a transaction", "PostgreSQL refuses to run it in a transaction block; the migration fails", "put the statement alone in a migration marked -- +goose NO TRANSACTION"},
	{RuleConstraintNotValid, "ADD FOREIGN KEY or CHECK without NOT VALID on an existing table", "validates every row while holding a lock that blocks writes", "ADD ... NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later statement (SHARE UPDATE EXCLUSIVE lock only)"},
	{RuleUniqueWithoutIndex, "ADD UNIQUE or PRIMARY KEY on an existing table without USING INDEX", "builds the index under an ACCESS EXCLUSIVE lock", "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... UNIQUE USING INDEX"},
	{RuleVolatileDefault, "ADD COLUMN with a volatile default (random(), gen_random_uuid(), clock_timestamp(), nextval, serial types, stored generated columns)", "PostgreSQL 15 rewrites the whole table under an ACCESS EXCLUSIVE lock", "add the column without a default (or with a constant), SET DEFAULT afterwards, backfill in batches"},
	{RuleTypeRewrite, "ALTER COLUMN ... TYPE that rewrites the table (any change that is not binary coercible, any USING)", "rewrites the table and rebuilds its indexes under an ACCESS EXCLUSIVE lock", "add a new column and backfill it online; only varchar/numeric widening and varchar->text are free in PostgreSQL 15"},
	{RuleSetNotNullScan, "SET NOT NULL on an existing table without a validated CHECK (col IS NOT NULL)", "scans the whole table under an ACCESS EXCLUSIVE lock", "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT c, then SET NOT NULL (PostgreSQL 12+ skips the scan), then drop c"},
	{RuleDropIndexNotConcurrent, "DROP INDEX without CONCURRENTLY", "takes an ACCESS EXCLUSIVE lock on the table", "DROP INDEX CONCURRENTLY in a -- +goose NO TRANSACTION migration"},
	{RuleSyntaxError, "the Up section does not parse", "PostgreSQL would refuse it; nothing else in the file is checked", "fix the SQL"},
	{RuleBadDirective, "a malformed -- rollpin: comment (unknown directive, allow without rule or reason, unknown rule)", "a silencing comment that does not work hides nothing, and a typo goes unnoticed", "write -- rollpin:allow RULE-ID reason"},
	{RuleFileName, "a .sql file whose name is not NNN_name.sql", "goose cannot order it", "rename it to <version>_<name>.sql"},
}

var ruleByID = func() map[string]Rule {
	m := make(map[string]Rule, len(rules))
	for _, r := range rules {
		m[r.ID] = r
	}
	return m
}()

// Rules returns the rule table, in documentation order.
func Rules() []Rule { return append([]Rule(nil), rules...) }
