// Package bearer sends a token as "authorization: Bearer <token>" gRPC
// per-RPC credentials, refused by gRPC over a connection without transport
// security unless plaintext is asked for: what pindctl's admin token and
// pinclient's register token share.
package bearer

import (
	"context"

	"google.golang.org/grpc/credentials"
)

// Credentials returns per-RPC credentials carrying token. With requireTLS,
// gRPC refuses to send them over a connection without transport security.
func Credentials(token string, requireTLS bool) credentials.PerRPCCredentials {
	return tokenCreds{token: token, requireTLS: requireTLS}
}

type tokenCreds struct {
	token      string
	requireTLS bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + c.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (c tokenCreds) RequireTransportSecurity() bool { return c.requireTLS }
