package interceptor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/refusal"
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

// reject counts and logs a refusal of a call to m and returns it as a
// status error with code, message msg and an ErrorInfo of reason whose
// metadata is meta plus the service and method of m.
func (c *core) reject(m *method, metric Reason, reason string, code codes.Code, msg string, meta map[string]string) error {
	if c.o.reporter != nil {
		c.o.reporter.CallRejected(m.full, metric)
	}
	if l := c.o.logger; l.Enabled(context.Background(), levelWarn) {
		l.Warn("rollpin: call refused", "method", m.full, "reason", reason, "error", msg)
	}
	if meta == nil {
		meta = make(map[string]string, 2)
	}
	meta[refusal.KeyService] = m.service
	meta[refusal.KeyMethod] = m.full
	return refusal.Error(code, reason, msg, meta)
}

func (c *core) methodTooNew(m *method, s *capState, fbNote string) error {
	return c.reject(m, ReasonMethodTooNew, refusal.MethodNewerThanPin, codes.FailedPrecondition, fmt.Sprintf(
		"rollpin: method %s (since %s %s) is newer than service %s, which is pinned at %s=%s%s; "+
			"the call was not sent: wait until every instance of the service is upgraded and the pin is raised, or call an older method",
		m.full, m.track, m.since, m.service, m.track, s.capVersion, fbNote),
		map[string]string{refusal.KeyTrack: m.track, refusal.KeySince: m.since.String(), refusal.KeyCap: s.capVersion.String()})
}

func (c *core) unknownService(m *method) error {
	return c.reject(m, ReasonUnknownService, refusal.UnknownService, codes.FailedPrecondition, fmt.Sprintf(
		"rollpin: no pin for service %s (method %s) and the unknown-service policy is fail; "+
			"start an instance of the service that registers with pind, or set a pin with pindctl",
		m.service, m.full), nil)
}

// downgradeError turns a Downgrade error into the status a caller gets.
func (c *core) downgradeError(m *method, what string, cap backport.Manifest, err error) error {
	if re, ok := errors.AsType[*backport.RejectError](err); ok {
		reason := refusal.FieldNewerThanPin
		meta := map[string]string{
			refusal.KeyField: re.Path,
			refusal.KeyTrack: re.Track,
			refusal.KeySince: re.Since.String(),
			refusal.KeyCap:   re.Cap.String(),
		}
		if re.EnumValue != "" {
			reason = refusal.EnumValueNewerThanPin
			meta[refusal.KeyEnumValue] = string(re.EnumValue)
		}
		return c.reject(m, ReasonFieldRejected, reason, codes.FailedPrecondition, fmt.Sprintf(
			"rollpin: %s of %s cannot be sent at %s: %v; it was not sent: leave the field unset (or use an older value) until the pin is raised",
			what, m.full, cap, err), meta)
	}
	if errors.Is(err, backport.ErrAcrossMajors) {
		return c.reject(m, ReasonAcrossMajors, refusal.AcrossMajors, codes.FailedPrecondition, fmt.Sprintf(
			"rollpin: %s of %s cannot be converted to %s: %v; a pin cannot cross a major version: "+
				"talk to that version with a client built for it, or correct the pin", what, m.full, cap, err),
			acrossMajorsMeta(m, cap))
	}
	return status.Errorf(codes.Internal, "rollpin: downgrading %s of %s to %s: %v", what, m.full, cap, err)
}

// fillError turns a FillDefaults error into the status a caller gets.
func (c *core) fillError(m *method, what string, sender backport.Manifest, err error) error {
	if errors.Is(err, backport.ErrAcrossMajors) {
		return c.reject(m, ReasonAcrossMajors, refusal.AcrossMajors, codes.FailedPrecondition, fmt.Sprintf(
			"rollpin: %s of %s was sent at %s, another major version than this binary's: %v", what, m.full, sender, err),
			acrossMajorsMeta(m, sender))
	}
	return status.Errorf(codes.Internal, "rollpin: filling defaults in %s of %s sent at %s: %v", what, m.full, sender, err)
}

// acrossMajorsMeta names the first track of m on which other (a cap or a
// sender's version) is in another major than this binary.
func acrossMajorsMeta(m *method, other backport.Manifest) map[string]string {
	for _, t := range m.tracks {
		own, _ := m.own.Get(t)
		if v, ok := other.Get(t); ok && v.Major != own.Major {
			return map[string]string{refusal.KeyTrack: t, refusal.KeyCap: v.String(), refusal.KeyOwnVersion: own.String()}
		}
	}
	return map[string]string{refusal.KeyCap: other.String()}
}

// senderTooNew refuses a request to m sent at a version newer than this
// server (own) on some track.
func (c *core) senderTooNew(m *method, sent backport.Manifest) error {
	meta := map[string]string{}
	if es := sent.NewerThan(c.own); len(es) > 0 {
		own, _ := c.own.Get(es[0].Track)
		meta[refusal.KeyTrack] = es[0].Track
		meta[refusal.KeyCap] = es[0].Version.String()
		meta[refusal.KeyOwnVersion] = own.String()
	}
	return c.reject(m, ReasonVersionTooNew, refusal.SenderNewerThanServer, codes.FailedPrecondition,
		"rollpin: the request to "+m.full+" is newer than this server ("+versionTooNew(sent, c.own)+
			"); the caller's pin for "+m.service+" is wrong: it must not exceed the oldest running instance, lower it with pindctl",
		meta)
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
