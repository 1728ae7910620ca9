package dbgate

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

const contractFix = "move it to a contract migration: -- rollpin:contract after=<track>=<first version that no longer needs it>"

// contracting reports a contracting operation: a finding in an expand
// migration, fine in a contract migration.
func (l *linter) contracting(out []issue, rule, what, why string) []issue {
	if l.m.Phase == Contract {
		return out
	}
	return append(out, issue{rule, fmt.Sprintf("%s: %s; %s", what, why, contractFix)})
}

// expanding reports expand work: a finding in a contract migration.
func (l *linter) expanding(out []issue, what string) []issue {
	if l.m.Phase != Contract {
		return out
	}
	return append(out, issue{RuleExpandInContract, fmt.Sprintf("%s is expand work: the new code needs it before it starts, but this contract migration waits for %s; move it to an expand migration", what, l.m.After)})
}

// inTx reports whether statements run inside a transaction block.
func (l *linter) inTx() bool { return !l.m.NoTransaction || l.explicitTx }

// isNew reports whether the table was created in the current migration
// (new and empty: locking it costs nothing).
func (l *linter) isNew(key string) bool {
	t := l.s.tables[key]
	return t != nil && t.created == l.mig
}

// statement checks one statement and applies it to the schema.
func (l *linter) statement(n *pg_query.Node) []issue {
	var out []issue
	switch {
	case n.GetCreateStmt() != nil:
		cs := n.GetCreateStmt()
		key := relKey(cs.GetRelation())
		out = l.expanding(out, "CREATE TABLE "+key)
		if _, exists := l.s.tables[key]; exists && cs.GetIfNotExists() {
			break
		}
		t := &table{created: l.mig, cols: map[string]colType{}, checks: map[string]check{}}
		for _, e := range cs.GetTableElts() {
			if cd := e.GetColumnDef(); cd != nil {
				t.cols[cd.GetColname()] = typeOf(cd.GetTypeName())
			}
			if c := e.GetConstraint(); c != nil && c.GetContype() == pg_query.ConstrType_CONSTR_CHECK {
				t.checks[c.GetConname()] = check{notNullCol: notNullColumn(c.GetRawExpr()), validated: true}
			}
		}
		l.s.tables[key] = t
	case n.GetIndexStmt() != nil:
		out = l.index(out, n.GetIndexStmt())
	case n.GetDropStmt() != nil:
		out = l.drop(out, n.GetDropStmt())
	case n.GetRenameStmt() != nil:
		out = l.rename(out, n.GetRenameStmt())
	case n.GetAlterEnumStmt() != nil:
		ae := n.GetAlterEnumStmt()
		typ := nameKey(strs(ae.GetTypeName()))
		if ae.GetOldVal() != "" {
			out = l.contracting(out, RuleRenameEnumValue, fmt.Sprintf("ALTER TYPE %s RENAME VALUE '%s'", typ, ae.GetOldVal()), "old instances write and compare the old label")
		} else {
			out = l.expanding(out, fmt.Sprintf("ALTER TYPE %s ADD VALUE", typ))
		}
	case n.GetTruncateStmt() != nil:
		var names []string
		for _, r := range n.GetTruncateStmt().GetRelations() {
			names = append(names, relKey(r.GetRangeVar()))
		}
		out = l.contracting(out, RuleTruncate, "TRUNCATE "+strings.Join(names, ", "), "removes rows old instances still read")
	case n.GetAlterTableStmt() != nil:
		at := n.GetAlterTableStmt()
		if at.GetObjtype() == pg_query.ObjectType_OBJECT_TABLE {
			key := relKey(at.GetRelation())
			for _, c := range at.GetCmds() {
				out = l.alterTable(out, key, c.GetAlterTableCmd())
			}
		}
	case n.GetTransactionStmt() != nil:
		switch n.GetTransactionStmt().GetKind() {
		case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
			l.explicitTx = true
		case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
			l.explicitTx = false
		}
	case n.GetReindexStmt() != nil:
		for _, p := range n.GetReindexStmt().GetParams() {
			if p.GetDefElem().GetDefname() == "concurrently" && l.inTx() {
				out = append(out, issue{RuleConcurrentlyInTx, "REINDEX CONCURRENTLY cannot run inside a transaction block: put it alone in a migration marked -- +goose NO TRANSACTION"})
			}
		}
	case n.GetViewStmt() != nil:
		out = l.expanding(out, "CREATE VIEW "+relKey(n.GetViewStmt().GetView()))
	case n.GetCreateFunctionStmt() != nil:
		out = l.expanding(out, "CREATE FUNCTION "+nameKey(strs(n.GetCreateFunctionStmt().GetFuncname())))
	case n.GetCreateSeqStmt() != nil:
		out = l.expanding(out, "CREATE SEQUENCE "+relKey(n.GetCreateSeqStmt().GetSequence()))
	case n.GetCreateEnumStmt() != nil:
		out = l.expanding(out, "CREATE TYPE "+nameKey(strs(n.GetCreateEnumStmt().GetTypeName())))
	case n.GetCompositeTypeStmt() != nil:
		out = l.expanding(out, "CREATE TYPE "+relKey(n.GetCompositeTypeStmt().GetTypevar()))
	case n.GetCreateDomainStmt() != nil:
		out = l.expanding(out, "CREATE DOMAIN "+nameKey(strs(n.GetCreateDomainStmt().GetDomainname())))
	case n.GetCreateTableAsStmt() != nil:
		out = l.expanding(out, "CREATE TABLE AS")
	}
	return out
}

func (l *linter) index(out []issue, ix *pg_query.IndexStmt) []issue {
	key := relKey(ix.GetRelation())
	what := "CREATE INDEX"
	if ix.GetUnique() {
		what = "CREATE UNIQUE INDEX"
	}
	name := ix.GetIdxname()
	out = l.expanding(out, fmt.Sprintf("%s %s ON %s", what, name, key))
	switch {
	case ix.GetConcurrent() && l.inTx():
		out = append(out, issue{RuleConcurrentlyInTx, fmt.Sprintf("%s CONCURRENTLY on %s cannot run inside a transaction block: put it alone in a migration marked -- +goose NO TRANSACTION", what, key)})
	case !ix.GetConcurrent() && !l.isNew(key):
		out = append(out, issue{RuleIndexNotConcurrent, fmt.Sprintf("%s on %s without CONCURRENTLY blocks every write to the table while it is built; use %s CONCURRENTLY in a -- +goose NO TRANSACTION migration", what, key, what)})
	}
	if name != "" {
		l.s.indexes[name] = key
	}
	return out
}

func (l *linter) drop(out []issue, d *pg_query.DropStmt) []issue {
	var kind string
	switch d.GetRemoveType() {
	case pg_query.ObjectType_OBJECT_TABLE:
		kind = "TABLE"
	case pg_query.ObjectType_OBJECT_VIEW:
		kind = "VIEW"
	case pg_query.ObjectType_OBJECT_MATVIEW:
		kind = "MATERIALIZED VIEW"
	case pg_query.ObjectType_OBJECT_SEQUENCE:
		kind = "SEQUENCE"
	case pg_query.ObjectType_OBJECT_TYPE:
		kind = "TYPE"
	case pg_query.ObjectType_OBJECT_DOMAIN:
		kind = "DOMAIN"
	case pg_query.ObjectType_OBJECT_FUNCTION:
		kind = "FUNCTION"
	case pg_query.ObjectType_OBJECT_SCHEMA:
		kind = "SCHEMA"
	case pg_query.ObjectType_OBJECT_INDEX:
		for _, o := range d.GetObjects() {
			name := objectName(o)
			tbl := l.s.indexes[name]
			switch {
			case d.GetConcurrent() && l.inTx():
				out = append(out, issue{RuleConcurrentlyInTx, fmt.Sprintf("DROP INDEX CONCURRENTLY %s cannot run inside a transaction block: put it alone in a migration marked -- +goose NO TRANSACTION", name)})
			case !d.GetConcurrent() && !(tbl != "" && l.isNew(tbl)):
				out = append(out, issue{RuleDropIndexNotConcurrent, fmt.Sprintf("DROP INDEX %s takes an ACCESS EXCLUSIVE lock on its table; use DROP INDEX CONCURRENTLY in a -- +goose NO TRANSACTION migration", name)})
			}
			delete(l.s.indexes, name)
		}
		return out
	default:
		return out
	}
	for _, o := range d.GetObjects() {
		name := objectName(o)
		out = l.contracting(out, RuleDropObject, fmt.Sprintf("DROP %s %s", kind, name), "old instances still use it")
		if kind == "TABLE" {
			delete(l.s.tables, name)
		}
	}
	return out
}

func (l *linter) rename(out []issue, r *pg_query.RenameStmt) []issue {
	key := relKey(r.GetRelation())
	switch r.GetRenameType() {
	case pg_query.ObjectType_OBJECT_COLUMN:
		out = l.contracting(out, RuleRenameColumn, fmt.Sprintf("RENAME COLUMN %s.%s TO %s", key, r.GetSubname(), r.GetNewname()), "old instances use the old name")
		if t := l.s.tables[key]; t != nil {
			if ct, ok := t.cols[r.GetSubname()]; ok {
				delete(t.cols, r.GetSubname())
				t.cols[r.GetNewname()] = ct
			}
		}
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW,
		pg_query.ObjectType_OBJECT_SEQUENCE, pg_query.ObjectType_OBJECT_TYPE, pg_query.ObjectType_OBJECT_SCHEMA,
		pg_query.ObjectType_OBJECT_DOMAIN, pg_query.ObjectType_OBJECT_FUNCTION:
		name := key
		if name == "" && r.GetObject() != nil {
			name = objectName(r.GetObject())
		}
		if name == "" {
			name = r.GetSubname()
		}
		out = l.contracting(out, RuleRenameObject, fmt.Sprintf("RENAME %s TO %s", name, r.GetNewname()), "old instances use the old name")
		if r.GetRenameType() == pg_query.ObjectType_OBJECT_TABLE {
			if t := l.s.tables[key]; t != nil {
				delete(l.s.tables, key)
				nk := r.GetNewname()
				if s := r.GetRelation().GetSchemaname(); s != "" && s != "public" {
					nk = s + "." + nk
				}
				l.s.tables[nk] = t
			}
		}
	case pg_query.ObjectType_OBJECT_TABCONSTRAINT:
		if t := l.s.tables[key]; t != nil {
			if c, ok := t.checks[r.GetSubname()]; ok {
				delete(t.checks, r.GetSubname())
				t.checks[r.GetNewname()] = c
			}
		}
	}
	return out
}

// columnDefault returns the default expression of a column definition and
// its identity/generated kind.
func columnDefault(cd *pg_query.ColumnDef) (def *pg_query.Node, notNull, generated, identity bool) {
	def = cd.GetRawDefault()
	notNull = cd.GetIsNotNull()
	for _, c := range cd.GetConstraints() {
		con := c.GetConstraint()
		switch con.GetContype() {
		case pg_query.ConstrType_CONSTR_DEFAULT:
			def = con.GetRawExpr()
		case pg_query.ConstrType_CONSTR_NOTNULL, pg_query.ConstrType_CONSTR_PRIMARY:
			notNull = true
		case pg_query.ConstrType_CONSTR_GENERATED:
			generated = true
		case pg_query.ConstrType_CONSTR_IDENTITY:
			identity = true
		}
	}
	return def, notNull, generated, identity
}

// Functions PostgreSQL declares VOLATILE that appear in defaults.
var volatileFuncs = map[string]bool{
	"random": true, "random_normal": true, "gen_random_uuid": true, "uuid_generate_v1": true,
	"uuid_generate_v1mc": true, "uuid_generate_v4": true, "clock_timestamp": true, "timeofday": true,
	"nextval": true, "txid_current": true, "setseed": true,
}

// Non-volatile functions common in defaults; any other function is
// reported as possibly volatile.
var stableFuncs = map[string]bool{
	"now": true, "transaction_timestamp": true, "statement_timestamp": true, "lower": true, "upper": true,
	"to_jsonb": true, "to_json": true, "jsonb_build_object": true, "json_build_object": true,
	"jsonb_build_array": true, "json_build_array": true, "make_interval": true, "array_fill": true,
	"to_timestamp": true, "to_date": true, "concat": true, "abs": true, "length": true,
}

var serialTypes = map[string]bool{"serial": true, "bigserial": true, "smallserial": true, "serial4": true, "serial8": true, "serial2": true}

func (l *linter) addColumn(out []issue, key string, cd *pg_query.ColumnDef) []issue {
	col := key + "." + cd.GetColname()
	out = l.expanding(out, "ADD COLUMN "+col)
	ct := typeOf(cd.GetTypeName())
	if t := l.s.tables[key]; t != nil {
		t.cols[cd.GetColname()] = ct
	}
	if l.isNew(key) {
		return out
	}
	def, notNull, generated, identity := columnDefault(cd)
	if notNull && def == nil && !generated && !identity && !serialTypes[ct.name] {
		out = append(out, issue{RuleAddNotNullColumn, fmt.Sprintf("ADD COLUMN %s NOT NULL without a DEFAULT: old instances' INSERTs do not name it and fail (and PostgreSQL refuses it on a table with rows); give it a DEFAULT, or add it nullable and SET NOT NULL in a contract migration", col)})
	}
	var volatile string
	switch {
	case serialTypes[ct.name]:
		volatile = fmt.Sprintf("type %s fills every row from nextval()", ct.name)
	case generated:
		volatile = "a stored generated column is computed for every row"
	case identity:
		volatile = "an identity column fills every row from its sequence"
	default:
		for _, f := range funcCalls(def) {
			if volatileFuncs[f] {
				volatile = fmt.Sprintf("%s() is volatile", f)
				break
			}
			if !stableFuncs[f] {
				volatile = fmt.Sprintf("%s() may be volatile (if it is STABLE or IMMUTABLE, allow this with -- rollpin:allow %s <reason>)", f, RuleVolatileDefault)
				break
			}
		}
	}
	if volatile != "" {
		out = append(out, issue{RuleVolatileDefault, fmt.Sprintf("ADD COLUMN %s: %s, so PostgreSQL 15 rewrites the whole table under an ACCESS EXCLUSIVE lock; add the column without a default (or with a constant), SET DEFAULT afterwards, and backfill in batches", col, volatile)})
	}
	for _, c := range cd.GetConstraints() {
		out = l.lockConstraint(out, key, c.GetConstraint())
	}
	return out
}

// lockConstraint reports constraints that scan or index an existing table
// under a lock that blocks writes.
func (l *linter) lockConstraint(out []issue, key string, con *pg_query.Constraint) []issue {
	if l.isNew(key) {
		return out
	}
	switch con.GetContype() {
	case pg_query.ConstrType_CONSTR_FOREIGN, pg_query.ConstrType_CONSTR_CHECK:
		if !con.GetSkipValidation() {
			kind := "FOREIGN KEY"
			if con.GetContype() == pg_query.ConstrType_CONSTR_CHECK {
				kind = "CHECK"
			}
			out = append(out, issue{RuleConstraintNotValid, fmt.Sprintf("ADD %s on %s validates every row while holding a lock that blocks writes; add it NOT VALID, then VALIDATE CONSTRAINT in a later statement", kind, key)})
		}
	case pg_query.ConstrType_CONSTR_UNIQUE, pg_query.ConstrType_CONSTR_PRIMARY:
		if con.GetIndexname() == "" {
			kind := "UNIQUE"
			if con.GetContype() == pg_query.ConstrType_CONSTR_PRIMARY {
				kind = "PRIMARY KEY"
			}
			out = append(out, issue{RuleUniqueWithoutIndex, fmt.Sprintf("ADD %s on %s builds its index under an ACCESS EXCLUSIVE lock; CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... %s USING INDEX", kind, key, kind)})
		}
	case pg_query.ConstrType_CONSTR_EXCLUSION:
		out = append(out, issue{RuleUniqueWithoutIndex, fmt.Sprintf("ADD EXCLUDE on %s builds its index under an ACCESS EXCLUSIVE lock; there is no concurrent way: run it in a maintenance window and allow it", key)})
	}
	return out
}

func (l *linter) alterTable(out []issue, key string, c *pg_query.AlterTableCmd) []issue {
	if c == nil {
		return out
	}
	t := l.s.tables[key]
	col := key + "." + c.GetName()
	switch c.GetSubtype() {
	case pg_query.AlterTableType_AT_AddColumn:
		if cd := c.GetDef().GetColumnDef(); cd != nil {
			out = l.addColumn(out, key, cd)
		}
	case pg_query.AlterTableType_AT_DropColumn:
		out = l.contracting(out, RuleDropColumn, "DROP COLUMN "+col, "old instances still read and write it")
		if t != nil {
			delete(t.cols, c.GetName())
		}
	case pg_query.AlterTableType_AT_AlterColumnType:
		cd := c.GetDef().GetColumnDef()
		nt := typeOf(cd.GetTypeName())
		out = l.contracting(out, RuleChangeColumnType, fmt.Sprintf("ALTER COLUMN %s TYPE %s", col, nt), "old instances read and write the old type")
		if !l.isNew(key) {
			var old *colType
			if t != nil {
				if ct, ok := t.cols[c.GetName()]; ok {
					old = &ct
				}
			}
			if why := rewriteReason(old, nt, cd.GetRawDefault() != nil); why != "" {
				out = append(out, issue{RuleTypeRewrite, fmt.Sprintf("ALTER COLUMN %s TYPE %s rewrites the table under an ACCESS EXCLUSIVE lock (%s, PostgreSQL 15); add a new column and backfill it online", col, nt, why)})
			}
		}
		if t != nil {
			t.cols[c.GetName()] = nt
		}
	case pg_query.AlterTableType_AT_SetNotNull:
		out = l.contracting(out, RuleSetNotNull, "ALTER COLUMN "+col+" SET NOT NULL", "old instances may still write NULL")
		if !l.isNew(key) && !l.hasNotNullCheck(t, c.GetName()) {
			out = append(out, issue{RuleSetNotNullScan, fmt.Sprintf("SET NOT NULL on %s scans the whole table under an ACCESS EXCLUSIVE lock: no validated CHECK (%s IS NOT NULL) precedes it; ADD CONSTRAINT ... CHECK (%s IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL (PostgreSQL 12+ skips the scan)", col, c.GetName(), c.GetName())})
		}
	case pg_query.AlterTableType_AT_ColumnDefault:
		if c.GetDef() == nil {
			out = l.contracting(out, RuleDropDefault, "ALTER COLUMN "+col+" DROP DEFAULT", "old instances omit the column and rely on the default")
		}
	case pg_query.AlterTableType_AT_AddConstraint:
		con := c.GetDef().GetConstraint()
		if con == nil {
			break
		}
		switch con.GetContype() {
		case pg_query.ConstrType_CONSTR_CHECK, pg_query.ConstrType_CONSTR_FOREIGN, pg_query.ConstrType_CONSTR_UNIQUE,
			pg_query.ConstrType_CONSTR_PRIMARY, pg_query.ConstrType_CONSTR_EXCLUSION:
			if !l.isNew(key) {
				name := con.GetConname()
				if name == "" {
					name = strings.ToUpper(strings.TrimPrefix(con.GetContype().String(), "CONSTR_"))
				}
				out = l.contracting(out, RuleAddConstraint, fmt.Sprintf("ADD CONSTRAINT %s on %s", name, key), "it refuses rows old instances write (NOT VALID only skips existing rows)")
			}
		}
		out = l.lockConstraint(out, key, con)
		if t != nil && con.GetContype() == pg_query.ConstrType_CONSTR_CHECK {
			t.checks[con.GetConname()] = check{notNullCol: notNullColumn(con.GetRawExpr()), validated: !con.GetSkipValidation()}
		}
	case pg_query.AlterTableType_AT_ValidateConstraint:
		t = l.tableFor(key)
		ch := t.checks[c.GetName()]
		ch.validated = true
		t.checks[c.GetName()] = ch
	case pg_query.AlterTableType_AT_DropConstraint:
		if t != nil {
			delete(t.checks, c.GetName())
		}
	}
	return out
}

// tableFor returns the table under key, creating a record for a table the
// migrations did not create (it then counts as existing).
func (l *linter) tableFor(key string) *table {
	t := l.s.tables[key]
	if t == nil {
		t = &table{created: -1, cols: map[string]colType{}, checks: map[string]check{}}
		l.s.tables[key] = t
	}
	return t
}

// hasNotNullCheck reports whether a validated CHECK (col IS NOT NULL)
// exists on t.
func (l *linter) hasNotNullCheck(t *table, col string) bool {
	if t == nil {
		return false
	}
	for _, c := range t.checks {
		if c.validated && c.notNullCol == col {
			return true
		}
	}
	return false
}

// rewriteReason says why changing a column from old (nil: unknown) to nt
// rewrites the table in PostgreSQL 15, or "" when it is binary coercible.
func rewriteReason(old *colType, nt colType, using bool) string {
	if using {
		return "a USING expression recomputes every row"
	}
	if old == nil {
		return "its current type is unknown to these migrations; only varchar/numeric widening and varchar->text are free"
	}
	o := *old
	mod := func(c colType, i int) int64 {
		if i < len(c.mods) {
			return c.mods[i]
		}
		return -1
	}
	switch {
	case o.String() == nt.String():
		return ""
	case (o.name == "varchar" || o.name == "text") && nt.name == "text":
		return ""
	case o.name == "varchar" && nt.name == "varchar" && (len(nt.mods) == 0 || (len(o.mods) > 0 && mod(nt, 0) >= mod(o, 0))):
		return ""
	case o.name == "text" && nt.name == "varchar" && len(nt.mods) == 0:
		return ""
	case o.name == "numeric" && nt.name == "numeric" && (len(nt.mods) == 0 || (len(o.mods) > 0 && mod(nt, 0) >= mod(o, 0) && mod(nt, 1) == mod(o, 1))):
		return ""
	case o.name == "varbit" && nt.name == "varbit" && (len(nt.mods) == 0 || (len(o.mods) > 0 && mod(nt, 0) >= mod(o, 0))):
		return ""
	case o.name == "cidr" && nt.name == "inet":
		return ""
	case o.name == "timestamp" && nt.name == "timestamptz":
		return "timestamp -> timestamptz is free only when the session time zone is UTC"
	}
	return fmt.Sprintf("%s -> %s is not binary coercible", o, nt)
}
