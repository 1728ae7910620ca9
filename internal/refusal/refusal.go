package refusal

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the ErrorInfo domain of every refusal rollpin makes.
const Domain = "rollpin.dev"

// Stable reasons. Each is documented where it is produced; the list here is
// the whole vocabulary.
const (
	// FieldNewerThanPin: a set field (ON_DOWNGRADE_REJECT) is newer than the cap.
	FieldNewerThanPin = "FIELD_NEWER_THAN_PIN"
	// MethodNewerThanPin: the method is newer than the target service's cap.
	MethodNewerThanPin = "METHOD_NEWER_THAN_PIN"
	// EnumValueNewerThanPin: an enum value newer than the cap has no downgrade_to.
	EnumValueNewerThanPin = "ENUM_VALUE_NEWER_THAN_PIN"
	// SenderNewerThanServer: the request was sent at a version the server does not have.
	SenderNewerThanServer = "SENDER_NEWER_THAN_SERVER"
	// AcrossMajors: a conversion would cross a major version.
	AcrossMajors = "ACROSS_MAJORS"
	// BadHeader: a rollpin header is malformed or ambiguous.
	BadHeader = "BAD_HEADER"
	// UnknownService: no pin is known for the service and the policy is fail.
	UnknownService = "UNKNOWN_SERVICE"
	// Fenced: an instance is older than the pin (or a contract mark) and may not register.
	Fenced = "FENCED"
	// PinConflict: a write's expected revision no longer matches (someone else wrote first).
	PinConflict = "PIN_CONFLICT"
	// InvalidRequest: a request to pind is malformed (bad version, ID, manifest, ...).
	InvalidRequest = "INVALID_REQUEST"
	// ReleaseExists: a release name is already recorded with another manifest.
	ReleaseExists = "RELEASE_EXISTS"
	// UnknownRelease: no release of that name is recorded.
	UnknownRelease = "UNKNOWN_RELEASE"
)

// Metadata keys used in ErrorInfo.Metadata.
const (
	KeyService = "service"
	KeyMethod  = "method"
	KeyField   = "field"
	KeySince   = "since"
	KeyCap     = "cap"
)

// Error returns a status error with code, message msg and an ErrorInfo of
// reason in [Domain] carrying meta (which may be nil).
func Error(code codes.Code, reason, msg string, meta map[string]string) error {
	st := status.New(code, msg)
	if withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Domain: Domain, Reason: reason, Metadata: meta}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// Of returns the rollpin ErrorInfo carried by err (a status error, possibly
// wrapped), or nil and false when err is not a rollpin refusal.
func Of(err error) (*errdetails.ErrorInfo, bool) {
	if err == nil {
		return nil, false
	}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return nil, false
	}
	for _, d := range se.GRPCStatus().Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			return info, true
		}
	}
	return nil, false
}
