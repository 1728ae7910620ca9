package interceptor

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/rollpin/rollpin/internal/refusal"
)

// Reasons in the google.rpc.ErrorInfo (domain "rollpin.dev") of the
// refusals the interceptors make; see RefusalOf. They are API: they do not
// change between releases, and a program matches on them, not on the text.
const (
	// RefusalFieldNewerThanPin: a set field whose on_downgrade is REJECT is
	// newer than the cap (for a response, than the caller's version).
	// FAILED_PRECONDITION; metadata field, track, since, cap.
	RefusalFieldNewerThanPin = refusal.FieldNewerThanPin
	// RefusalEnumValueNewerThanPin: an enum value newer than the cap has no
	// downgrade_to. FAILED_PRECONDITION; metadata field, enum_value, track,
	// since, cap.
	RefusalEnumValueNewerThanPin = refusal.EnumValueNewerThanPin
	// RefusalMethodNewerThanPin: the method's since is above the target
	// service's cap and no fallback applies. FAILED_PRECONDITION; metadata
	// track, since, cap.
	RefusalMethodNewerThanPin = refusal.MethodNewerThanPin
	// RefusalSenderNewerThanServer: a request was sent at a version newer
	// than the server's own (the caller's pin is wrong).
	// FAILED_PRECONDITION; metadata track, cap (what the request was sent
	// at), own_version (the server's).
	RefusalSenderNewerThanServer = refusal.SenderNewerThanServer
	// RefusalAcrossMajors: a message would have to cross a major version.
	// FAILED_PRECONDITION; metadata track, cap (the cap or the sender's
	// version), own_version.
	RefusalAcrossMajors = refusal.AcrossMajors
	// RefusalBadHeader: a rollpin header is malformed or sent more than once.
	// INVALID_ARGUMENT; metadata header.
	RefusalBadHeader = refusal.BadHeader
	// RefusalMissingHeader: a request proves no version and the server
	// refuses such requests (NoHeadersReject). FAILED_PRECONDITION; metadata
	// header.
	RefusalMissingHeader = refusal.MissingHeader
	// RefusalUnknownService: the service has no pin and the client's policy
	// is UnknownServiceFail. FAILED_PRECONDITION.
	RefusalUnknownService = refusal.UnknownService
)

// RefusalOf returns the google.rpc.ErrorInfo of err when err (a gRPC status
// error, possibly wrapped) is a refusal made by rollpin: by a client
// interceptor before sending, or by a rollpin server interceptor or pind
// across the wire. Its Domain is "rollpin.dev", its Reason one of the
// Refusal constants (pind adds its own), and its Metadata names the service
// and method ("service", "method": the full method name) and, depending on
// the reason, "field" (path from the message root, with list indexes and
// map keys), "enum_value", "track", "since", "cap", "own_version" and
// "header". ok is false for every other error, a server's own
// FAILED_PRECONDITION among them.
func RefusalOf(err error) (info *errdetails.ErrorInfo, ok bool) {
	return refusal.Of(err)
}
