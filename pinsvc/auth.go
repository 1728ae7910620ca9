package pinsvc

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/rollpin/rollpin/internal/refusal"
)

// authorize checks that the caller may write and returns the identity to
// record as the writer. See WithAdminToken and WithWriterIdentities for the
// policy.
func (s *Server) authorize(ctx context.Context) (string, error) {
	ids := certIdentities(ctx)
	token, hasToken := bearer(ctx)
	open := s.cfg.AdminToken == "" && len(s.cfg.WriterIdentities) == 0
	if open {
		return callerName(ctx, ids), nil
	}
	for _, id := range ids {
		if slices.Contains(s.cfg.WriterIdentities, id) {
			return id, nil
		}
	}
	if hasToken && tokenIs(token, s.cfg.AdminToken) {
		if len(ids) > 0 {
			return ids[0] + " (admin token)", nil
		}
		return "admin-token", nil
	}
	if !hasToken && len(ids) == 0 {
		return "", refusal.Error(codes.Unauthenticated, refusal.CredentialsMissing, "writes need credentials: pass the admin token (metadata \"authorization: Bearer <token>\", pindctl --token) or a client certificate whose identity pind allows (--writer-identities)", nil)
	}
	if hasToken {
		return "", refusal.Error(codes.PermissionDenied, refusal.CredentialsRejected, "the token is not pind's admin token (--admin-token) and no allowed client-certificate identity was presented", nil)
	}
	return "", refusal.Error(codes.PermissionDenied, refusal.CredentialsRejected, fmt.Sprintf("client-certificate identities %q may not write: add one to pind's --writer-identities or use the admin token", ids), nil)
}

// hasCredentials reports whether the Server has any credentials configured;
// then every write and every registration needs some.
func (s *Server) hasCredentials() bool {
	return s.cfg.AdminToken != "" || len(s.cfg.WriterIdentities) > 0 ||
		s.cfg.RegisterToken != "" || len(s.cfg.RegisterIdentities) > 0
}

// authorizeRegister checks that the caller may register every one of
// services. With no credentials configured registration is open. Otherwise
// it needs the register token or the admin token, a client certificate
// identity allowed to write, or one whose register patterns (see
// WithRegisterIdentities) cover every service.
func (s *Server) authorizeRegister(ctx context.Context, services []string) error {
	if !s.hasCredentials() {
		return nil
	}
	token, hasToken := bearer(ctx)
	if hasToken && (tokenIs(token, s.cfg.RegisterToken) || tokenIs(token, s.cfg.AdminToken)) {
		return nil
	}
	ids := certIdentities(ctx)
	var denied []string
	for _, id := range ids {
		if slices.Contains(s.cfg.WriterIdentities, id) {
			return nil
		}
	}
	for _, svc := range services {
		allowed := false
		for _, id := range ids {
			if mayRegister(s.cfg.RegisterIdentities[id], svc) {
				allowed = true
				break
			}
		}
		if !allowed {
			denied = append(denied, svc)
		}
	}
	if len(ids) > 0 && len(denied) == 0 {
		return nil
	}
	if !hasToken && len(ids) == 0 {
		return refusal.Error(codes.Unauthenticated, refusal.CredentialsMissing, "registration needs credentials on this pind: pass the register token (metadata \"authorization: Bearer <token>\", pinsvc.WithToken) or a client certificate allowed to register the services (pind --register-identities)", nil)
	}
	if len(ids) == 0 {
		return refusal.Error(codes.PermissionDenied, refusal.CredentialsRejected, "the token is neither pind's register token (--register-token) nor its admin token", nil)
	}
	return refusal.Error(codes.PermissionDenied, refusal.CredentialsRejected,
		fmt.Sprintf("client-certificate identities %q may not register %s: allow them in pind's --register-identities (identity=service or identity=package.*)", ids, strings.Join(denied, ", ")),
		map[string]string{refusal.KeyService: strings.Join(denied, ",")})
}

// mayRegister reports whether one of patterns covers service: "*" covers
// every service, "pkg.*" every service whose full name starts with "pkg.",
// anything else the service of that exact full name.
func mayRegister(patterns []string, service string) bool {
	for _, p := range patterns {
		switch {
		case p == "*":
			return true
		case strings.HasSuffix(p, ".*"):
			if strings.HasPrefix(service, strings.TrimSuffix(p, "*")) {
				return true
			}
		case p == service:
			return true
		}
	}
	return false
}

// tokenIs compares a presented token with a configured one in constant
// time; an unset configured token matches nothing.
func tokenIs(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// callerName names an anonymous caller for the records.
func callerName(ctx context.Context, ids []string) string {
	if len(ids) > 0 {
		return ids[0]
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return "anonymous@" + p.Addr.String()
	}
	return "anonymous"
}

// bearer returns the bearer token of the request's authorization metadata.
// The scheme is case-insensitive (RFC 6750 via RFC 7235); ok is true when
// authorization metadata is present at all, so malformed credentials count
// as wrong credentials.
func bearer(ctx context.Context) (token string, ok bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	vs := md.Get("authorization")
	if len(vs) == 0 {
		return "", false
	}
	scheme, tok, found := strings.Cut(vs[0], " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimLeft(tok, " "), true
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
