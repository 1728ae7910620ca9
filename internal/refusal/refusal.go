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
	// MissingHeader: a request proves no version (no usable rollpin-version
	// or rollpin-cap header) and the server's policy is to refuse such requests.
	MissingHeader = "MISSING_HEADER"
	// InstanceIDTaken: another live Register stream owns the instance ID
	// (ALREADY_EXISTS); metadata names the holder's pind and start time.
	InstanceIDTaken = "INSTANCE_ID_TAKEN"
	// UnknownTrack: a pin names a track that no instance of the service
	// announces and that the pin did not already name (INVALID_ARGUMENT).
	UnknownTrack = "UNKNOWN_TRACK"
	// TooManyServices: a registration lists more services than one etcd
	// transaction holds; retrying cannot succeed (INVALID_ARGUMENT).
	TooManyServices = "TOO_MANY_SERVICES"
	// CredentialsMissing: the call needs credentials and carried none
	// (UNAUTHENTICATED).
	CredentialsMissing = "CREDENTIALS_MISSING"
	// CredentialsRejected: the credentials presented do not allow the call
	// (PERMISSION_DENIED).
	CredentialsRejected = "CREDENTIALS_REJECTED"
	// PinAboveFloor: a raise would put the pin above live instances
	// (FAILED_PRECONDITION); metadata names the service.
	PinAboveFloor = "PIN_ABOVE_FLOOR"
)

// Metadata keys used in ErrorInfo.Metadata.
const (
	KeyService = "service"
	KeyMethod  = "method"
	KeyField   = "field"
	KeySince   = "since"
	KeyCap     = "cap"
	// KeyTrack names the track that since, cap and own_version are versions of.
	KeyTrack = "track"
	// KeyEnumValue is the full name of a refused enum value.
	KeyEnumValue = "enum_value"
	// KeyOwnVersion is the refusing binary's own version of the track.
	KeyOwnVersion = "own_version"
	// KeyHeader names the rollpin header a refusal is about.
	KeyHeader = "header"
	// KeyInstance names an instance ID.
	KeyInstance = "instance"
	// KeyHolder names the pind holding a registration.
	KeyHolder = "holder"
	// KeyHolderSince is when the holder registered (RFC 3339).
	KeyHolderSince = "holder_since"
	// KeyPin is the pin involved, as manifest text.
	KeyPin = "pin"
	// KeyLimit is a limit that was exceeded.
	KeyLimit = "limit"
	// KeyTracks lists tracks, comma-separated.
	KeyTracks = "tracks"
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
