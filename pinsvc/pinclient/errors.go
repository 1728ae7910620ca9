package pinclient

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors of the Client.
var (
	// ErrClosed is returned by WaitForSync and Start after Close.
	ErrClosed = errors.New("pinclient: client closed")
	// ErrAlreadyStarted is returned by a second call to Start.
	ErrAlreadyStarted = errors.New("pinclient: client already started")
	// ErrNoCredentials is returned by NewClient when neither
	// WithTransportCredentials nor WithInsecure was given.
	ErrNoCredentials = errors.New("pinclient: no transport credentials for pind: pass WithTransportCredentials (TLS) or WithInsecure (plaintext, for loopback and tests)")
	// ErrInsecureToken is returned by NewClient when WithToken is given
	// with a plaintext transport (WithInsecure) and without
	// WithInsecureToken: the token would cross the network in clear text.
	ErrInsecureToken = errors.New("pinclient: a token over plaintext would cross the network in clear text: use WithTransportCredentials (TLS), or WithInsecureToken for a pind on loopback or a unix socket")
	// ErrFenced is wrapped by the error of a registration that pind refused
	// because the instance is below the pin (FAILED_PRECONDITION).
	ErrFenced = errors.New("pinclient: instance is below the pin")
	// ErrIDTaken is wrapped by the error of a registration that pind refused
	// because another live stream holds the instance ID (ALREADY_EXISTS).
	ErrIDTaken = errors.New("pinclient: instance ID held by another live registration")
)

// RegistrationError reports that pind refused to register an instance. It
// unwraps to the gRPC status error, and to ErrFenced or ErrIDTaken for
// those refusals.
type RegistrationError struct {
	// ID is the instance ID.
	ID string
	// Err is the status error pind answered.
	Err error
}

// Error returns pind's explanation, which names the pin and the command that
// would lower it when the instance is fenced.
func (e *RegistrationError) Error() string {
	if e == nil {
		return "<nil>"
	}
	return "pinclient: pind refused to register instance " + e.ID + ": " + status.Convert(e.Err).Message()
}

// Unwrap returns the status error and, for a fenced instance or a taken
// ID, ErrFenced or ErrIDTaken.
func (e *RegistrationError) Unwrap() []error {
	switch status.Code(e.Err) {
	case codes.FailedPrecondition:
		return []error{ErrFenced, e.Err}
	case codes.AlreadyExists:
		return []error{ErrIDTaken, e.Err}
	}
	return []error{e.Err}
}

// refusal classifies the status of a failed Register (before its first
// update) or WatchPins.
type refusal int

const (
	// transient: retry with backoff (UNAVAILABLE, DEADLINE_EXCEEDED, ...).
	transient refusal = iota
	// fenced: the instance is below a pin; retry when the pins allow it.
	fenced
	// idTaken: the ID is held by a live stream; retry when it is gone.
	idTaken
	// permanent: the same request can never succeed; never retried.
	permanent
)

// classify says what a status code means for the request that got it.
func classify(err error) refusal {
	switch status.Code(err) {
	case codes.FailedPrecondition:
		return fenced
	case codes.AlreadyExists:
		return idTaken
	case codes.InvalidArgument, codes.Unauthenticated, codes.PermissionDenied,
		codes.Unimplemented, codes.OutOfRange:
		return permanent
	}
	return transient
}
