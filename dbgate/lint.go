package dbgate

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/rollpin/rollpin/backport"
)

// Finding is one problem the linter reports.
type Finding struct {
	// File is the migration's file name, relative to the linted directory.
	File string
	// Line is the 1-based line where the offending statement (or comment)
	// starts.
	Line int
	// Rule is the stable rule ID (see Rules).
	Rule string
	// Message says what is wrong and how to fix it, on one line.
	Message string
}

// String formats f as "FILE:LINE: RULE-ID: message".
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", f.File, f.Line, f.Rule, f.Message)
}

// Lint reads the goose migrations in the root of fsys in version order and
// returns every finding, sorted by file order then line. A file that does
// not parse yields a syntax-error finding (never a panic) and the linter
// goes on with the next file. The error is non-nil only when fsys cannot be
// read.
func Lint(fsys fs.FS) ([]Finding, error) {
	migs, bad, err := Load(fsys)
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, name := range bad {
		out = append(out, Finding{File: name, Line: 1, Rule: RuleFileName, Message: fmt.Sprintf("%s is not named <version>_<name>.sql: goose cannot order it", name)})
	}
	return append(out, LintMigrations(migs)...), nil
}

// LintMigrations lints migrations already loaded by Load, in the order
// given, carrying what each statement did to the schema into the next.
func LintMigrations(migs []*Migration) []Finding {
	l := &linter{s: newSchema()}
	var out []Finding
	for i, m := range migs {
		l.mig, l.m = i, m
		out = append(out, l.file()...)
	}
	return out
}

// linter carries the schema state across migrations.
type linter struct {
	s          *schema
	mig        int
	m          *Migration
	explicitTx bool
	lines      []int // offsets of '\n' in the current file
}

// issue is a finding before the allow comments are applied.
type issue struct {
	rule, msg string
}

// stmtInfo is one parsed statement with where it starts and its comments.
type stmtInfo struct {
	node               *pg_query.Node
	regionStart, first int // region includes leading comments; first is the first token
	end                int // end of the last token
	comments           []comment
}

func (l *linter) line(off int) int {
	return sort.SearchInts(l.lines, off) + 1
}

// file lints one migration.
func (l *linter) file() (out []Finding) {
	m := l.m
	l.explicitTx = false
	l.lines = l.lines[:0]
	for i := 0; i < len(m.up); i++ {
		if m.up[i] == '\n' {
			l.lines = append(l.lines, i)
		}
	}
	find := func(off int, rule, msg string) {
		out = append(out, Finding{File: m.File, Line: l.line(off), Rule: rule, Message: msg})
	}
	comments, words, leading, misplaced, err := m.scan()
	if err != nil {
		find(l.errorOffset(err), RuleSyntaxError, syntaxMessage(err))
		return out
	}
	if m.HeaderErr != nil {
		pos := 0
		switch {
		case len(misplaced) > 0:
			pos = misplaced[0].pos
		case len(leading) > 0:
			pos = leading[len(leading)-1].pos
		}
		find(pos, RuleContractHeader, m.HeaderErr.Error()+"; the file is treated as an expand migration")
	}

	tree, err := pg_query.Parse(m.up)
	if err != nil {
		find(l.errorOffset(err), RuleSyntaxError, syntaxMessage(err))
		return out
	}
	stmts := l.statements(tree.GetStmts(), words, comments)
	for _, st := range stmts {
		allowed := map[string]bool{}
		for _, c := range st.comments {
			body, ok := directiveBody(c.text)
			if !ok {
				continue
			}
			switch firstWord(body) {
			case allowWord:
				a, err := parseAllow(body)
				if err != nil {
					find(c.pos, RuleBadDirective, err.Error())
					continue
				}
				allowed[a.rule] = true
			case contractWord:
				// Reported above when misplaced.
			default:
				find(c.pos, RuleBadDirective, fmt.Sprintf("unknown directive rollpin:%s: the directives are rollpin:contract and rollpin:allow", firstWord(body)))
			}
		}
		for _, is := range l.statement(st.node) {
			if !allowed[is.rule] {
				find(st.first, is.rule, is.msg)
			}
		}
	}
	return out
}

// statements attaches to each parsed statement its first token and its
// comments: those in its region (after the previous statement) and a
// trailing one on the line where it ends.
func (l *linter) statements(raw []*pg_query.RawStmt, words []*pg_query.ScanToken, comments []comment) []stmtInfo {
	out := make([]stmtInfo, 0, len(raw))
	w := 0
	for _, rs := range raw {
		start := int(rs.GetStmtLocation())
		end := start + int(rs.GetStmtLen())
		if rs.GetStmtLen() == 0 {
			end = len(l.m.up)
		}
		st := stmtInfo{node: rs.GetStmt(), regionStart: start, first: start, end: start}
		for w < len(words) && int(words[w].GetStart()) < start {
			w++
		}
		if w < len(words) {
			st.first = int(words[w].GetStart())
		}
		for w < len(words) && int(words[w].GetStart()) < end {
			st.end = int(words[w].GetEnd())
			w++
		}
		out = append(out, st)
	}
	for _, c := range comments {
		owner := -1
		for i := range out {
			if c.pos >= out[i].regionStart {
				owner = i
			}
		}
		// A comment on the line where the previous statement ends belongs
		// to that statement.
		if owner >= 0 && c.pos < out[owner].first && owner > 0 && l.line(out[owner-1].end) == l.line(c.pos) {
			owner--
		}
		if owner >= 0 && c.pos >= out[owner].end && owner == len(out)-1 && l.line(out[owner].end) != l.line(c.pos) {
			continue // after the last statement
		}
		if owner >= 0 {
			out[owner].comments = append(out[owner].comments, c)
		}
	}
	return out
}

// errorOffset returns the byte offset a parse error points at.
func (l *linter) errorOffset(err error) int {
	var pe *parser.Error
	if !errors.As(err, &pe) || pe.Cursorpos <= 0 {
		return 0
	}
	// Cursorpos counts characters from 1.
	n := 0
	for i := range l.m.up {
		n++
		if n == pe.Cursorpos {
			return i
		}
	}
	return len(l.m.up)
}

func syntaxMessage(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return "the Up section does not parse: " + msg + "; nothing else in this file was checked"
}

// scan tokenizes the Up section, returns its line comments and statement
// tokens, and decides the phase from the contract headers (leading: before
// the first statement; misplaced: after it).
func (m *Migration) scan() (comments []comment, words []*pg_query.ScanToken, leading, misplaced []comment, err error) {
	res, err := pg_query.Scan(m.up)
	if err != nil {
		m.Phase, m.After, m.HeaderErr = Expand, backport.Manifest{}, nil
		return nil, nil, nil, nil, err
	}
	for _, t := range res.GetTokens() {
		switch t.GetToken() {
		case pg_query.Token_SQL_COMMENT:
			comments = append(comments, comment{text: m.up[t.GetStart():t.GetEnd()], pos: int(t.GetStart())})
		case pg_query.Token_C_COMMENT:
		default:
			words = append(words, t)
		}
	}
	firstTok := len(m.up)
	if len(words) > 0 {
		firstTok = int(words[0].GetStart())
	}
	for _, c := range comments {
		body, ok := directiveBody(c.text)
		if !ok || firstWord(body) != contractWord {
			continue
		}
		if c.pos < firstTok {
			leading = append(leading, c)
		} else {
			misplaced = append(misplaced, c)
		}
	}
	m.Phase, m.After, m.HeaderErr = Expand, backport.Manifest{}, nil
	m.applyHeader(leading, misplaced)
	return comments, words, leading, misplaced, nil
}
