package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Exit codes of pindctl.
const (
	exitOK     = 0 // the command did what was asked
	exitFailed = 1 // pind refused the request, or it could not be made
	exitUsage  = 2 // bad flags or arguments
)

// usageError marks an error in the command line itself (exit code 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error (exit code 2) with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

// rpcError translates an error from a PinService call into a message that
// names the cause and the fix. what describes the call ("read pins", "set
// the pin of X"). Errors that are not gRPC status errors are returned
// wrapped, unchanged in substance.
func (a *app) rpcError(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: interrupted", what)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	desc := st.Message()
	eps := strings.Join(a.endpointList(), ",")
	switch st.Code() {
	case codes.Unavailable:
		if !strings.Contains(desc, "connection") && !strings.Contains(desc, "transport") && !strings.Contains(desc, "dial") {
			// pind answered, but cannot serve now (etcd unreachable, shutting down).
			return fmt.Errorf("pind at %s cannot %s now: %s", eps, what, desc)
		}
		hint := "is it running? (--endpoints)"
		switch {
		case strings.Contains(desc, "handshake") || strings.Contains(desc, "certificate") || strings.Contains(desc, "tls:"):
			hint = "check the TLS flags (--tls-ca, --tls-cert, --tls-key)"
		case strings.Contains(desc, "server preface") && a.tlsCA == "" && a.tlsCert == "":
			hint = "it may be serving TLS: pass --tls-ca (or check --endpoints)"
		}
		return fmt.Errorf("cannot reach pind at %s to %s (%s): %s", eps, what, desc, hint)
	case codes.DeadlineExceeded:
		return fmt.Errorf("pind at %s did not answer within %s to %s: is it overloaded or cut off from etcd? (raise --timeout)", eps, a.timeout, what)
	case codes.Unauthenticated:
		return fmt.Errorf("pind did not accept the credentials to %s (%s): pass an admin token with --token (or PINDCTL_TOKEN)", what, desc)
	case codes.PermissionDenied:
		return fmt.Errorf("not allowed to %s (%s): writes need an admin token (--token) or a client certificate pind trusts (--tls-cert, --tls-key)", what, desc)
	case codes.Aborted:
		return fmt.Errorf("pin changed since read; run again (%s)", desc)
	case codes.FailedPrecondition:
		return fmt.Errorf("refused: %s", desc)
	case codes.NotFound:
		return fmt.Errorf("%s: %s", what, desc)
	case codes.InvalidArgument:
		return fmt.Errorf("pind rejected the request to %s: %s", what, desc)
	case codes.Unimplemented:
		return fmt.Errorf("pind at %s does not support %s (%s): upgrade pind", eps, what, desc)
	case codes.Canceled:
		return fmt.Errorf("%s: interrupted", what)
	default:
		return fmt.Errorf("%s failed: %s: %s", what, st.Code(), desc)
	}
}
