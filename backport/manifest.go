package backport

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// ErrBadManifest is wrapped by every error ParseManifest returns.
var ErrBadManifest = errors.New("backport: malformed manifest")

// maxManifestLen bounds the manifest text ParseManifest accepts, so that a
// header or request cannot make a process allocate without limit.
const maxManifestLen = 64 << 10

// Entry is one track and its version in a Manifest.
type Entry struct {
	Track   string
	Version Version
}

// Manifest is an immutable map from track (a proto package name) to Version.
// The zero Manifest is empty. Manifests are safe for concurrent use and cheap
// to copy (they share their storage).
type Manifest struct {
	// entries is sorted by Track, with no duplicates; never mutated after
	// construction.
	entries []Entry
}

// NewManifest builds a Manifest from entries. A track given twice is an
// error, as is an invalid track name.
func NewManifest(entries ...Entry) (Manifest, error) {
	es := slices.Clone(entries)
	slices.SortFunc(es, func(a, b Entry) int { return strings.Compare(a.Track, b.Track) })
	for i, e := range es {
		if err := checkTrack(e.Track); err != nil {
			return Manifest{}, fmt.Errorf("%w: %v", ErrBadManifest, err)
		}
		if i > 0 && es[i-1].Track == e.Track {
			return Manifest{}, fmt.Errorf("%w: track %q appears twice", ErrBadManifest, e.Track)
		}
	}
	return Manifest{entries: es}, nil
}

// MustManifest is NewManifest for tests and static tables; it panics on error.
func MustManifest(entries ...Entry) Manifest {
	m, err := NewManifest(entries...)
	if err != nil {
		panic(err)
	}
	return m
}

// ParseManifest parses the text form "track=MAJOR.MINOR,track=MAJOR.MINOR".
// Entries may come in any order but a track may appear only once; no spaces
// are allowed. The empty string is the empty manifest. Errors wrap
// ErrBadManifest and name the offending entry.
func ParseManifest(s string) (Manifest, error) {
	if s == "" {
		return Manifest{}, nil
	}
	if len(s) > maxManifestLen {
		return Manifest{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrBadManifest, len(s), maxManifestLen)
	}
	n := strings.Count(s, ",") + 1
	es := make([]Entry, 0, n)
	sorted := true
	for part := range strings.SplitSeq(s, ",") {
		track, ver, ok := strings.Cut(part, "=")
		if !ok {
			return Manifest{}, fmt.Errorf("%w: entry %q: want track=MAJOR.MINOR", ErrBadManifest, part)
		}
		if err := checkTrack(track); err != nil {
			return Manifest{}, fmt.Errorf("%w: entry %q: %v", ErrBadManifest, part, err)
		}
		v, err := ParseVersion(ver)
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: entry %q: %w", ErrBadManifest, part, err)
		}
		if len(es) > 0 && es[len(es)-1].Track >= track {
			sorted = false
		}
		es = append(es, Entry{Track: track, Version: v})
	}
	if !sorted {
		slices.SortFunc(es, func(a, b Entry) int { return strings.Compare(a.Track, b.Track) })
		for i := 1; i < len(es); i++ {
			if es[i-1].Track == es[i].Track {
				return Manifest{}, fmt.Errorf("%w: track %q appears twice", ErrBadManifest, es[i].Track)
			}
		}
	}
	return Manifest{entries: es}, nil
}

// checkTrack accepts a proto package name: dot-separated identifiers of
// letters, digits and underscores, each not starting with a digit.
func checkTrack(t string) error {
	if t == "" {
		return errors.New("empty track name")
	}
	if len(t) > 512 {
		return fmt.Errorf("track name of %d bytes is too long", len(t))
	}
	start := true
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '.':
			if start {
				return fmt.Errorf("track %q: empty package component", t)
			}
			start = true
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9':
			if start {
				return fmt.Errorf("track %q: component starts with a digit", t)
			}
		default:
			return fmt.Errorf("track %q: invalid character %q", t, c)
		}
		start = false
	}
	if start {
		return fmt.Errorf("track %q: ends with a dot", t)
	}
	return nil
}

// String returns the canonical text form: entries sorted by track, joined by
// ",", no spaces. ParseManifest(m.String()) equals m.
func (m Manifest) String() string {
	var b strings.Builder
	for i, e := range m.entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.Track)
		b.WriteByte('=')
		b.WriteString(e.Version.String())
	}
	return b.String()
}

// Len returns the number of tracks.
func (m Manifest) Len() int { return len(m.entries) }

// IsEmpty reports whether m has no tracks.
func (m Manifest) IsEmpty() bool { return len(m.entries) == 0 }

// Entries returns a copy of the entries, sorted by track.
func (m Manifest) Entries() []Entry { return slices.Clone(m.entries) }

// All iterates over the tracks and their versions, sorted by track, without
// allocating.
func (m Manifest) All() iter.Seq2[string, Version] {
	return func(yield func(string, Version) bool) {
		for _, e := range m.entries {
			if !yield(e.Track, e.Version) {
				return
			}
		}
	}
}

// Get returns the version of track and whether the track is present.
func (m Manifest) Get(track string) (Version, bool) {
	es := m.entries
	// Manifests are small: a linear scan beats binary search below ~8 entries.
	if len(es) <= 8 {
		for _, e := range es {
			if e.Track == track {
				return e.Version, true
			}
		}
		return Version{}, false
	}
	i, ok := slices.BinarySearchFunc(es, track, func(e Entry, t string) int { return strings.Compare(e.Track, t) })
	if !ok {
		return Version{}, false
	}
	return es[i].Version, true
}

// Equal reports whether m and o hold the same tracks at the same versions.
func (m Manifest) Equal(o Manifest) bool {
	return slices.Equal(m.entries, o.entries)
}

// Min returns the elementwise minimum of a and b over the tracks present in
// both, plus the tracks present in only one of them (an absent track is
// uncapped).
func Min(a, b Manifest) Manifest {
	if len(b.entries) == 0 {
		return a
	}
	if len(a.entries) == 0 {
		return b
	}
	if a.Covers(b) && b.hasAllTracks(a) {
		// b is at or below a everywhere and names every track of a.
		return b
	}
	if b.Covers(a) && a.hasAllTracks(b) {
		return a
	}
	out := make([]Entry, 0, len(a.entries)+len(b.entries))
	i, j := 0, 0
	for i < len(a.entries) && j < len(b.entries) {
		ea, eb := a.entries[i], b.entries[j]
		switch c := strings.Compare(ea.Track, eb.Track); {
		case c < 0:
			out = append(out, ea)
			i++
		case c > 0:
			out = append(out, eb)
			j++
		default:
			if eb.Version.Less(ea.Version) {
				ea = eb
			}
			out = append(out, ea)
			i++
			j++
		}
	}
	out = append(out, a.entries[i:]...)
	out = append(out, b.entries[j:]...)
	return Manifest{entries: out}
}

// hasAllTracks reports whether every track of o is present in m.
func (m Manifest) hasAllTracks(o Manifest) bool {
	for _, e := range o.entries {
		if _, ok := m.Get(e.Track); !ok {
			return false
		}
	}
	return true
}

// Covers reports whether, for every track present in both m and o, m's
// version is at least o's. Tracks present in only one are ignored (an absent
// track is uncapped).
func (m Manifest) Covers(o Manifest) bool {
	i, j := 0, 0
	for i < len(m.entries) && j < len(o.entries) {
		em, eo := m.entries[i], o.entries[j]
		switch c := strings.Compare(em.Track, eo.Track); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			if em.Version.Less(eo.Version) {
				return false
			}
			i++
			j++
		}
	}
	return true
}

// NewerThan returns the entries of m whose version is above o's version of
// the same track (tracks absent from o are not reported). The result is nil
// when m does not exceed o anywhere.
func (m Manifest) NewerThan(o Manifest) []Entry {
	var out []Entry
	for _, e := range m.entries {
		if v, ok := o.Get(e.Track); ok && v.Less(e.Version) {
			out = append(out, e)
		}
	}
	return out
}

// Restrict returns the manifest of m limited to the given tracks.
func (m Manifest) Restrict(tracks ...string) Manifest {
	var out []Entry
	for _, e := range m.entries {
		if slices.Contains(tracks, e.Track) {
			out = append(out, e)
		}
	}
	return Manifest{entries: out}
}

// With returns a copy of m with track set to v.
func (m Manifest) With(track string, v Version) (Manifest, error) {
	if err := checkTrack(track); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	out := make([]Entry, 0, len(m.entries)+1)
	done := false
	for _, e := range m.entries {
		if !done && e.Track >= track {
			out = append(out, Entry{Track: track, Version: v})
			done = true
			if e.Track == track {
				continue
			}
		}
		out = append(out, e)
	}
	if !done {
		out = append(out, Entry{Track: track, Version: v})
	}
	return Manifest{entries: out}, nil
}
