package dbgate

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/rollpin/rollpin/backport"
)

// Phase says when a migration may run.
type Phase int

const (
	// Expand migrations only add what old code survives; they run at once.
	Expand Phase = iota
	// Contract migrations remove what old code needs; they run once their
	// after= manifest is reached.
	Contract
)

// String returns "expand" or "contract".
func (p Phase) String() string {
	if p == Contract {
		return "contract"
	}
	return "expand"
}

// Migration is one goose SQL migration file.
type Migration struct {
	// Version is the number before the first "_" of the file name.
	Version int64
	// File is the file name ("00004_drop_size_gb.sql").
	File string
	// Phase is Contract when the file carries a well-formed contract header.
	Phase Phase
	// After is the manifest a contract migration waits for.
	After backport.Manifest
	// NoTransaction is set by "-- +goose NO TRANSACTION".
	NoTransaction bool
	// HeaderErr is set when a rollpin:contract header is present but
	// malformed or misplaced; the migration is then treated as expand by
	// the linter and refused by the runner.
	HeaderErr error

	src    string // the whole file
	up     string // the Up section; other lines blanked, so offsets are file offsets
	header []comment
}

// comment is a line comment with its byte offset in the file.
type comment struct {
	text string
	pos  int
}

// Load reads every *.sql migration in the root of fsys, sorted by version,
// and decides each one's phase from its header.
// Files whose names goose cannot order are returned by name in bad.
func Load(fsys fs.FS) (migs []*Migration, bad []string, err error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, nil, fmt.Errorf("dbgate: read migrations: %w", err)
	}
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		v, ok := fileVersion(e.Name())
		if !ok {
			bad = append(bad, e.Name())
			continue
		}
		if other, dup := seen[v]; dup {
			return nil, nil, fmt.Errorf("dbgate: %s and %s share version %d: renumber one", other, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, nil, fmt.Errorf("dbgate: read migration: %w", err)
		}
		m := parseMigration(e.Name(), v, string(b))
		m.scan() // the phase; a scan error is the linter's syntax-error
		migs = append(migs, m)
	}
	slices.SortFunc(migs, func(a, b *Migration) int { return cmpInt64(a.Version, b.Version) })
	return migs, bad, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fileVersion returns the goose version of a file name "NNN_name.sql".
func fileVersion(name string) (int64, bool) {
	num, rest, ok := strings.Cut(name, "_")
	if !ok || rest == ".sql" || num == "" {
		return 0, false
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 1 {
		return 0, false
	}
	return v, true
}

// gooseAnnotation returns the goose annotation of a line ("Up", "Down",
// "NO TRANSACTION", ...) or "".
func gooseAnnotation(line string) string {
	t := strings.TrimSpace(line)
	rest, ok := strings.CutPrefix(t, "--")
	if !ok {
		return ""
	}
	rest = strings.TrimSpace(rest)
	a, ok := strings.CutPrefix(rest, "+goose ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(a)
}

// parseMigration splits a goose file into its Up section and reads the
// header. Lines outside the Up section are blanked so that offsets in up
// are offsets in the file.
func parseMigration(name string, v int64, src string) *Migration {
	m := &Migration{Version: v, File: name, src: src}
	var up strings.Builder
	up.Grow(len(src))
	section := "" // "", "up", "down"
	for off := 0; off < len(src); {
		end := strings.IndexByte(src[off:], '\n')
		line := src[off:]
		if end >= 0 {
			line = src[off : off+end+1]
		}
		switch a := gooseAnnotation(line); {
		case strings.EqualFold(a, "Up"):
			section = "up"
		case strings.EqualFold(a, "Down"):
			section = "down"
		case strings.EqualFold(a, "NO TRANSACTION"):
			m.NoTransaction = true
		}
		keep := section == "up" || (section == "" && strings.HasPrefix(strings.TrimSpace(line), "--"))
		if keep {
			up.WriteString(line)
		} else {
			for _, c := range []byte(line) {
				if c == '\n' {
					up.WriteByte('\n')
				} else {
					up.WriteByte(' ')
				}
			}
		}
		off += len(line)
	}
	m.up = up.String()
	return m
}

// applyHeader decides the phase from the comments before the first
// statement (found by the linter's scan) and the misplaced contract
// headers after it.
func (m *Migration) applyHeader(leading []comment, misplaced []comment) {
	var headers []comment
	for _, c := range leading {
		if body, ok := directiveBody(c.text); ok && firstWord(body) == contractWord {
			headers = append(headers, c)
		}
	}
	m.header = headers
	switch {
	case len(misplaced) > 0:
		m.HeaderErr = fmt.Errorf("%w: rollpin:contract must come before the first statement", ErrHeader)
	case len(headers) > 1:
		m.HeaderErr = fmt.Errorf("%w: more than one rollpin:contract header: list every track in one after=", ErrHeader)
	case len(headers) == 1:
		after, err := ParseContractHeader(headers[0].text)
		if err != nil {
			m.HeaderErr = err
			return
		}
		m.Phase, m.After = Contract, after
	}
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}
