// Package refusal builds and reads the gRPC errors rollpin gives when it
// refuses something: a status with a precise code and a google.rpc.ErrorInfo
// in domain [Domain] whose Reason is one of the stable reasons below and whose
// metadata names what was refused (service, method, field path, since, cap,
// ...). The reasons are API: programs match on them instead of on text.
//
// The interceptor and pinsvc packages re-export what callers need
// (interceptor.RefusalOf); this package keeps the one definition both use.
package refusal
