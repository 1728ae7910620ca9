package backport

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrBadVersion is wrapped by every error ParseVersion returns.
var ErrBadVersion = errors.New("backport: malformed version")

// Version is a track version MAJOR.MINOR. Versions are ordered by (Major,
// Minor). Within one major a higher minor only adds fields, methods and enum
// values. The zero Version (0.0) is a valid version.
type Version struct {
	Major, Minor uint32
}

// ParseVersion parses "MAJOR.MINOR": two decimal numbers that each fit in a
// uint32, no sign, no spaces, no other characters. Errors wrap ErrBadVersion
// and quote the input.
func ParseVersion(s string) (Version, error) {
	dot := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			if dot >= 0 {
				return Version{}, fmt.Errorf("%w %q: want MAJOR.MINOR with one dot", ErrBadVersion, s)
			}
			dot = i
		}
	}
	if dot < 0 {
		return Version{}, fmt.Errorf("%w %q: want MAJOR.MINOR, e.g. \"1.4\"", ErrBadVersion, s)
	}
	major, err := parseUint32(s[:dot])
	if err != nil {
		return Version{}, fmt.Errorf("%w %q: major: %v", ErrBadVersion, s, err)
	}
	minor, err := parseUint32(s[dot+1:])
	if err != nil {
		return Version{}, fmt.Errorf("%w %q: minor: %v", ErrBadVersion, s, err)
	}
	return Version{Major: major, Minor: minor}, nil
}

// parseUint32 accepts only ASCII digits (no sign, no spaces, no underscores).
func parseUint32(s string) (uint32, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q does not fit in 32 bits", s)
	}
	return uint32(n), nil
}

// String returns "MAJOR.MINOR"; ParseVersion(v.String()) == v.
func (v Version) String() string {
	var buf [21]byte
	b := strconv.AppendUint(buf[:0], uint64(v.Major), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(v.Minor), 10)
	return string(b)
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	switch {
	case v.Major < w.Major:
		return -1
	case v.Major > w.Major:
		return 1
	case v.Minor < w.Minor:
		return -1
	case v.Minor > w.Minor:
		return 1
	}
	return 0
}

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool { return v.Compare(w) < 0 }
