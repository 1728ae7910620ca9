package pinsvc

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/refusal"
)

// Input limits. They keep every etcd key and value small and every error
// message readable.
const (
	// MaxServiceNameLen bounds a service full name.
	MaxServiceNameLen = 256
	// MaxInstanceIDLen bounds an instance id.
	MaxInstanceIDLen = 256
	// MaxManifestLen bounds manifest text in requests.
	MaxManifestLen = 8 << 10
	// MaxReasonLen bounds reasons of pins and holds.
	MaxReasonLen = 1024
	// MaxBuildLen bounds Instance.build.
	MaxBuildLen = 256
	// MaxAddressLen bounds Instance.address.
	MaxAddressLen = 256
	// MaxServicesPerInstance bounds RegisterRequest.services. A
	// registration is one etcd transaction comparing two keys per service
	// (the pin and the instance key) plus the contract marks, and etcd
	// holds at most 128 operations in one transaction by default
	// (--max-txn-ops). A longer list is refused with INVALID_ARGUMENT,
	// reason TOO_MANY_SERVICES.
	MaxServicesPerInstance = 63
)

// invalid returns an INVALID_ARGUMENT status error with reason
// INVALID_REQUEST.
func invalid(format string, args ...any) error {
	return refusal.Error(codes.InvalidArgument, refusal.InvalidRequest, fmt.Sprintf(format, args...), nil)
}

// checkServiceName accepts a protobuf full name: dot-separated identifiers
// of ASCII letters, digits and underscores, none starting with a digit, at
// most MaxServiceNameLen bytes. Such a name cannot contain '/', "..", spaces
// or control characters, so it cannot escape its place in the key space.
func checkServiceName(field, name string) error {
	if name == "" {
		return invalid("%s is empty: give the full gRPC service name, e.g. \"acme.volume.v1.VolumeService\"", field)
	}
	if len(name) > MaxServiceNameLen {
		return invalid("%s is %d bytes long, the limit is %d", field, len(name), MaxServiceNameLen)
	}
	start := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if start {
				return invalid("%s %q: empty name component (leading, trailing or doubled dot); want a full name like \"acme.volume.v1.VolumeService\"", field, name)
			}
			start = true
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9':
			if start {
				return invalid("%s %q: a name component starts with a digit", field, name)
			}
		default:
			return invalid("%s %q: character %q is not allowed; a service name holds only letters, digits, '_' and '.'", field, name, printable(c))
		}
		start = false
	}
	if start {
		return invalid("%s %q: ends with a dot", field, name)
	}
	return nil
}

func printable(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("\\x%02x", c)
	}
	return string(c)
}

// checkInstanceID accepts 1 to MaxInstanceIDLen bytes of printable UTF-8
// with no spaces and no '/'.
func checkInstanceID(id string) error {
	if id == "" {
		return invalid("instance.id is empty: give a unique id such as host:port or the pod name")
	}
	if len(id) > MaxInstanceIDLen {
		return invalid("instance.id is %d bytes long, the limit is %d", len(id), MaxInstanceIDLen)
	}
	if !utf8.ValidString(id) {
		return invalid("instance.id %q is not valid UTF-8", id)
	}
	if strings.Trim(id, ".") == "" {
		return invalid("instance.id %q is only dots, a path element with a meaning of its own: give a unique id such as host:port or the pod name", id)
	}
	for _, r := range id {
		if r == '/' {
			return invalid("instance.id %q contains '/', which is not allowed", id)
		}
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return invalid("instance.id %q contains %q; only printable characters without spaces are allowed", id, r)
		}
	}
	return nil
}

// checkText bounds a free-form text field and requires valid UTF-8 without
// control characters other than tab.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return invalid("%s is %d bytes long, the limit is %d", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r != '\t' && unicode.IsControl(r) {
			return invalid("%s contains the control character %q", field, r)
		}
	}
	return nil
}

// parseManifestField parses manifest text from a request.
func parseManifestField(field, s string) (backport.Manifest, error) {
	if len(s) > MaxManifestLen {
		return backport.Manifest{}, invalid("%s is %d bytes long, the limit is %d", field, len(s), MaxManifestLen)
	}
	m, err := backport.ParseManifest(s)
	if err != nil {
		return backport.Manifest{}, invalid("%s: %v; want \"track=MAJOR.MINOR,...\", e.g. \"acme.volume.v1=1.4\"", field, err)
	}
	for entry := range strings.SplitSeq(s, ",") {
		_, v, _ := strings.Cut(entry, "=")
		if err := checkVersionText(field, v); err != nil {
			return backport.Manifest{}, err
		}
	}
	return m, nil
}

// checkVersionText refuses what backport.ParseVersion may accept but a
// version never is written as: a number with a leading zero ("01.4"), or
// one with a sign or spaces. Versions are compared as numbers, so "01.4"
// and "1.4" would be the same version under two spellings.
func checkVersionText(field, v string) error {
	major, minor, ok := strings.Cut(v, ".")
	if !ok {
		return nil // ParseVersion already refused it
	}
	for _, n := range []string{major, minor} {
		if len(n) > 1 && n[0] == '0' {
			return invalid("%s: version %q has a leading zero: write %q", field, v, canonicalVersion(v))
		}
		for i := 0; i < len(n); i++ {
			if n[i] < '0' || n[i] > '9' {
				return invalid("%s: version %q is not MAJOR.MINOR in decimal digits", field, v)
			}
		}
	}
	return nil
}

func canonicalVersion(v string) string {
	if pv, err := backport.ParseVersion(v); err == nil {
		return pv.String()
	}
	return v
}

// OwnTrack returns the track of a service: its proto package, the full name
// without its last component ("acme.volume.v1.VolumeService" →
// "acme.volume.v1"). It is empty for a service in no package.
func OwnTrack(service string) string {
	i := strings.LastIndexByte(service, '.')
	if i < 0 {
		return ""
	}
	return service[:i]
}

// resolvePinText turns SetPinRequest.manifest into a manifest. A bare
// "MAJOR.MINOR" sets the service's own track in cur (the current pin, or
// empty); anything else must be full manifest text.
func resolvePinText(service, text string, cur backport.Manifest) (backport.Manifest, error) {
	if text == "" {
		return backport.Manifest{}, invalid("manifest is empty: give \"MAJOR.MINOR\" for the service's own track or \"track=MAJOR.MINOR,...\"")
	}
	if !strings.Contains(text, "=") {
		v, err := backport.ParseVersion(text)
		if err != nil {
			return backport.Manifest{}, invalid("manifest %q: %v; give \"MAJOR.MINOR\" or \"track=MAJOR.MINOR,...\"", text, err)
		}
		if err := checkVersionText("manifest", text); err != nil {
			return backport.Manifest{}, err
		}
		track := OwnTrack(service)
		if track == "" {
			return backport.Manifest{}, invalid("service %q has no proto package, so a bare version has no track: give \"track=MAJOR.MINOR\"", service)
		}
		m, err := cur.With(track, v)
		if err != nil {
			return backport.Manifest{}, invalid("manifest %q: %v", text, err)
		}
		return m, nil
	}
	m, err := parseManifestField("manifest", text)
	if err != nil {
		return backport.Manifest{}, err
	}
	if m.IsEmpty() {
		return backport.Manifest{}, invalid("manifest is empty")
	}
	return m, nil
}
