package backport

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// ErrAcrossMajors is wrapped by the error Downgrade returns when a cap names
// a different major version than the schema for one of the message's tracks:
// messages are downgraded only within one major.
var ErrAcrossMajors = errors.New("backport: cannot downgrade across major versions")

// ErrNoDowngrader is wrapped by the error Downgrade returns when a populated
// ON_DOWNGRADE_CUSTOM field is newer than the cap and no downgrader is
// registered for its message.
var ErrNoDowngrader = errors.New("backport: no downgrader registered")

// RejectError reports a value that cannot be sent at a cap: a populated
// ON_DOWNGRADE_REJECT field newer than the cap, or an enum value newer than
// the cap with no downgrade_to (or whose downgrade_to chain ends newer than
// the cap). Callers use errors.As.
type RejectError struct {
	// Path is the field path from the downgraded message, with list indexes
	// and map keys: "spec.encryption", "items[2].color", `labels["a"].kind`.
	Path string
	// Field is the full name of the field holding the value.
	Field protoreflect.FullName
	// EnumValue is the rejected enum value's full name; empty when the
	// field itself is rejected.
	EnumValue protoreflect.FullName
	// Track is the track of the field (or of the enum value).
	Track string
	// Since is the version that added the field or enum value.
	Since Version
	// Cap is the cap's version of Track.
	Cap Version
}

// Error describes the rejection; it is safe on a nil *RejectError.
func (e *RejectError) Error() string {
	if e == nil {
		return "backport: <nil RejectError>"
	}
	if e.EnumValue != "" {
		return fmt.Sprintf("backport: %s = %s: enum value added in %s %s cannot be sent at %s %s (no downgrade_to)",
			e.Path, e.EnumValue.Name(), e.Track, e.Since, e.Track, e.Cap)
	}
	return fmt.Sprintf("backport: %s: field added in %s %s is set and cannot be sent at %s %s (on_downgrade REJECT)",
		e.Path, e.Track, e.Since, e.Track, e.Cap)
}

// prefix prepends a path element while the error travels up the tree.
func (e *RejectError) prefix(elem string) {
	switch {
	case e.Path == "":
		e.Path = elem
	case strings.HasPrefix(e.Path, "["):
		e.Path = elem + e.Path
	default:
		e.Path = elem + "." + e.Path
	}
}

// prefixErr prepends elem to the path of a *RejectError; other errors pass.
func prefixErr(err error, elem string) error {
	var re *RejectError
	if errors.As(err, &re) {
		re.prefix(elem)
	}
	return err
}

func mapKeyText(k protoreflect.MapKey) string {
	if s, ok := k.Interface().(string); ok {
		return fmt.Sprintf("[%q]", s)
	}
	return fmt.Sprintf("[%v]", k.Interface())
}
