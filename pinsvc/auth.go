package pinsvc

import (
	"context"
	"crypto/subtle"
	"net"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// authorize checks that the caller may write and returns the identity to
// record as the writer. See Config.WriterIdentities for the policy.
func (s *Server) authorize(ctx context.Context) (string, error) {
	ids := certIdentities(ctx)
	token, hasToken := bearer(ctx)
	open := s.cfg.AdminToken == "" && len(s.cfg.WriterIdentities) == 0
	who := func() string {
		if len(ids) > 0 {
			return ids[0]
		}
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			// The host only: a client's ephemeral port is no identity.
			host, _, err := net.SplitHostPort(p.Addr.String())
			if err != nil {
				host = p.Addr.String()
			}
			return "anonymous@" + host
		}
		return "anonymous"
	}
	if open {
		return who(), nil
	}
	for _, id := range ids {
		if slices.Contains(s.cfg.WriterIdentities, id) {
			return id, nil
		}
	}
	if hasToken && s.cfg.AdminToken != "" &&
		subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.AdminToken)) == 1 {
		if len(ids) > 0 {
			return ids[0] + " (admin token)", nil
		}
		return "admin-token", nil
	}
	if !hasToken && len(ids) == 0 {
		return "", status.Error(codes.Unauthenticated, "writes need credentials: pass the admin token (metadata \"authorization: Bearer <token>\", pindctl --token) or a client certificate whose identity pind allows (--writer-identities)")
	}
	if hasToken {
		return "", status.Error(codes.PermissionDenied, "the token is not pind's admin token (--admin-token) and no allowed client-certificate identity was presented")
	}
	return "", status.Errorf(codes.PermissionDenied, "client-certificate identities %q may not write: add one to pind's --writer-identities or use the admin token", ids)
}

// bearer returns the bearer token of the request's authorization metadata.
func bearer(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if tok, ok := strings.CutPrefix(v, "Bearer "); ok {
			return tok, true
		}
		if tok, ok := strings.CutPrefix(v, "bearer "); ok {
			return tok, true
		}
		return "", true // malformed credentials are wrong credentials
	}
	return "", false
}

// certIdentities returns the subject CN and the DNS and URI SANs of the
// verified client certificate, if any.
func certIdentities(ctx context.Context) []string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil
	}
	c := ti.State.VerifiedChains[0][0]
	var ids []string
	if c.Subject.CommonName != "" {
		ids = append(ids, c.Subject.CommonName)
	}
	ids = append(ids, c.DNSNames...)
	for _, u := range c.URIs {
		ids = append(ids, u.String())
	}
	return ids
}
