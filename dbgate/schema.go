package dbgate

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// schema is what the migrations read so far did to the database, as far
// as the linter's verdicts need it.
type schema struct {
	tables  map[string]*table
	indexes map[string]string // index name -> table key
}

// table is a table created by the migrations.
type table struct {
	created int // index of the migration that created it
	cols    map[string]colType
	checks  map[string]check
}

// colType is a column type as written: the last name part and its
// modifiers ("varchar", [64]).
type colType struct {
	name string
	mods []int64
}

// check is a CHECK constraint the linter knows.
type check struct {
	notNullCol string // set when the check is exactly (col IS NOT NULL)
	validated  bool
}

func newSchema() *schema {
	return &schema{tables: map[string]*table{}, indexes: map[string]string{}}
}

// relKey names a relation: "name", or "schema.name" outside public.
func relKey(rv *pg_query.RangeVar) string {
	if rv == nil {
		return ""
	}
	if s := rv.GetSchemaname(); s != "" && s != "public" {
		return s + "." + rv.GetRelname()
	}
	return rv.GetRelname()
}

// nameKey names an object given as a list of String nodes.
func nameKey(parts []string) string {
	if len(parts) == 2 && parts[0] == "public" {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

// strs returns the String values of nodes.
func strs(nodes []*pg_query.Node) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if s := n.GetString_(); s != nil {
			out = append(out, s.GetSval())
		}
	}
	return out
}

// objectName returns a printable name of a DropStmt object.
func objectName(n *pg_query.Node) string {
	switch {
	case n.GetList() != nil:
		return nameKey(strs(n.GetList().GetItems()))
	case n.GetString_() != nil:
		return n.GetString_().GetSval()
	case n.GetTypeName() != nil:
		return typeOf(n.GetTypeName()).name
	case n.GetObjectWithArgs() != nil:
		return nameKey(strs(n.GetObjectWithArgs().GetObjname()))
	}
	return "?"
}

// typeOf reads a TypeName.
func typeOf(t *pg_query.TypeName) colType {
	names := strs(t.GetNames())
	ct := colType{}
	if len(names) > 0 {
		ct.name = names[len(names)-1]
	}
	for _, m := range t.GetTypmods() {
		if c := m.GetAConst(); c != nil && c.GetIval() != nil {
			ct.mods = append(ct.mods, int64(c.GetIval().GetIval()))
		} else {
			ct.mods = append(ct.mods, -1)
		}
	}
	if len(t.GetArrayBounds()) > 0 {
		ct.name += "[]"
	}
	return ct
}

func (c colType) String() string {
	if len(c.mods) == 0 {
		return c.name
	}
	var b strings.Builder
	b.WriteString(c.name)
	b.WriteByte('(')
	for i, m := range c.mods {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(itoa(m))
	}
	b.WriteByte(')')
	return b.String()
}

func itoa(v int64) string {
	if v < 0 {
		return "?"
	}
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return string(buf[i:])
}

// notNullColumn returns col when expr is exactly (col IS NOT NULL).
func notNullColumn(expr *pg_query.Node) string {
	nt := expr.GetNullTest()
	if nt == nil || nt.GetNulltesttype() != pg_query.NullTestType_IS_NOT_NULL {
		return ""
	}
	cr := nt.GetArg().GetColumnRef()
	if cr == nil {
		return ""
	}
	f := strs(cr.GetFields())
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// funcCalls returns the names of every function called anywhere in n.
func funcCalls(n *pg_query.Node) []string {
	if n == nil {
		return nil
	}
	var out []string
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		if fc, ok := m.Interface().(*pg_query.FuncCall); ok {
			names := strs(fc.GetFuncname())
			if len(names) > 0 {
				out = append(out, names[len(names)-1])
			}
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Message() == nil {
				return true
			}
			switch {
			case fd.IsList():
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					walk(l.Get(i).Message())
				}
			case fd.IsMap():
			default:
				walk(v.Message())
			}
			return true
		})
	}
	walk(n.ProtoReflect())
	return out
}
