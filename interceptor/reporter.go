package interceptor

import "github.com/rollpin/rollpin/backport"

// Reason says why a call was refused; it is the "reason" label of the
// rejected-calls metric. The refusal a caller gets names the same cause,
// more finely, by one of the Refusal constants (see RefusalOf).
type Reason string

// Reasons for refusing a call.
const (
	// ReasonMethodTooNew: the method's since is above the target's cap.
	ReasonMethodTooNew Reason = "method_too_new"
	// ReasonFieldRejected: a populated field (or enum value) cannot be sent
	// below its since.
	ReasonFieldRejected Reason = "field_rejected"
	// ReasonUnknownService: no cap for the service under UnknownServiceFail.
	ReasonUnknownService Reason = "unknown_service"
	// ReasonVersionTooNew: a request claims a version newer than the server's.
	ReasonVersionTooNew Reason = "version_too_new"
	// ReasonNoHeaders: a request without rollpin headers under NoHeadersReject.
	ReasonNoHeaders Reason = "no_headers"
	// ReasonAcrossMajors: the peer's version of a track is in another major
	// version than this binary's; messages cannot be converted.
	ReasonAcrossMajors Reason = "across_majors"
	// ReasonMalformedHeader: a rollpin header that does not parse.
	ReasonMalformedHeader Reason = "malformed_header"
)

// Reporter receives what the interceptors do; see WithMetrics. The
// backport.Observer methods are called for every field dropped, enum value
// downgraded and default filled. Implementations must be safe for
// concurrent use and should not block.
type Reporter interface {
	backport.Observer
	// CallDowngraded is called once per call whose request is downgraded by a
	// client, or whose responses are downgraded by a server for an older
	// caller.
	CallDowngraded(fullMethod string)
	// CallRejected is called once per call refused by an interceptor.
	CallRejected(fullMethod string, reason Reason)
}
