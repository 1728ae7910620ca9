package interceptor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
)

// quote returns s quoted and cut to a length that is safe to echo in an
// error message.
func quote(s string) string {
	const max = 128
	if len(s) > max {
		return fmt.Sprintf("%q... (%d bytes)", s[:max], len(s))
	}
	return fmt.Sprintf("%q", s)
}

func (c *core) reject(fullMethod string, reason Reason, code codes.Code, msg string) error {
	if c.o.reporter != nil {
		c.o.reporter.CallRejected(fullMethod, reason)
	}
	if l := c.o.logger; l.Enabled(context.Background(), levelWarn) {
		l.Warn("rollpin: call refused", "method", fullMethod, "reason", string(reason), "error", msg)
	}
	return status.Error(code, msg)
}

func (c *core) methodTooNew(m *method, s *capState, fbNote string) error {
	return c.reject(m.full, ReasonMethodTooNew, codes.FailedPrecondition, fmt.Sprintf(
		"rollpin: method %s (since %s %s) is newer than service %s, which is pinned at %s=%s%s; "+
			"the call was not sent: wait until every instance of the service is upgraded and the pin is raised, or call an older method",
		m.full, m.track, m.since, m.service, m.track, s.capVersion, fbNote))
}

func (c *core) unknownService(m *method) error {
	return c.reject(m.full, ReasonUnknownService, codes.FailedPrecondition, fmt.Sprintf(
		"rollpin: no pin for service %s (method %s) and the unknown-service policy is fail; "+
			"start an instance of the service that registers with pind, or set a pin with pindctl",
		m.service, m.full))
}

// downgradeError turns a Downgrade error into the status a caller gets.
func (c *core) downgradeError(m *method, what string, cap backport.Manifest, err error) error {
	if isReject(err) {
		return c.reject(m.full, ReasonFieldRejected, codes.FailedPrecondition, fmt.Sprintf(
			"rollpin: %s of %s cannot be sent at %s: %v; it was not sent: leave the field unset (or use an older value) until the pin is raised",
			what, m.full, cap, err))
	}
	if errors.Is(err, backport.ErrAcrossMajors) {
		return c.reject(m.full, ReasonAcrossMajors, codes.FailedPrecondition, fmt.Sprintf(
			"rollpin: %s of %s cannot be converted to %s: %v; a pin cannot cross a major version: "+
				"talk to that version with a client built for it, or correct the pin", what, m.full, cap, err))
	}
	return status.Errorf(codes.Internal, "rollpin: downgrading %s of %s to %s: %v", what, m.full, cap, err)
}

// fillError turns a FillDefaults error into the status a caller gets.
func (c *core) fillError(m *method, what string, sender backport.Manifest, err error) error {
	if errors.Is(err, backport.ErrAcrossMajors) {
		return c.reject(m.full, ReasonAcrossMajors, codes.FailedPrecondition, fmt.Sprintf(
			"rollpin: %s of %s was sent at %s, another major version than this binary's: %v", what, m.full, sender, err))
	}
	return status.Errorf(codes.Internal, "rollpin: filling defaults in %s of %s sent at %s: %v", what, m.full, sender, err)
}

func versionTooNew(sent, own backport.Manifest) string {
	var b strings.Builder
	for i, e := range sent.NewerThan(own) {
		if i > 0 {
			b.WriteString(", ")
		}
		v, _ := own.Get(e.Track)
		fmt.Fprintf(&b, "track %s: the request was sent at %s, this server runs %s", e.Track, e.Version, v)
	}
	return b.String()
}

// isReject reports whether err is the engine's refusal to downgrade a
// populated field or enum value.
func isReject(err error) bool {
	var re *backport.RejectError
	return errors.As(err, &re)
}
