package interceptor

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/refusal"
)

// peerCall is what the server learned from a request's rollpin headers.
type peerCall struct {
	sent   backport.Manifest // Min(rollpin-version, rollpin-cap): what the request speaks
	client backport.Manifest // rollpin-version: what responses are downgraded to
	fill   bool              // sent is older than this server somewhere: fill defaults
	down   bool              // client is older than this server somewhere: downgrade responses
}

// incoming reads the rollpin headers of a request to m by the rules of the
// wire protocol (see the package doc): a repeated header is INVALID_ARGUMENT,
// an empty header or one naming none of m's tracks is absent, a cap without
// a version is what the request was sent at. The common case (the caller
// runs this server's version, not downgraded) costs two header lookups
// without copying the metadata, one allocation and one string comparison;
// the outcome for the last other pair of header values is kept on the
// method, and header values are parsed once and cached.
func (c *core) incoming(ctx context.Context, m *method) (peerCall, error) {
	vs := metadata.ValueFromIncomingContext(ctx, HeaderVersion)
	caps := metadata.ValueFromIncomingContext(ctx, HeaderCap)
	if len(vs) == 1 && len(caps) == 0 && vs[0] == m.ownHeader {
		// A method that reaches no track (ownHeader "") needs no header.
		return peerCall{}, nil
	}
	if len(vs) > 1 {
		return peerCall{}, c.repeatedHeader(m, HeaderVersion, vs)
	}
	if len(caps) > 1 {
		return peerCall{}, c.repeatedHeader(m, HeaderCap, caps)
	}
	var version, capH string
	if len(vs) == 1 {
		version = vs[0]
	}
	if len(caps) == 1 {
		capH = caps[0]
	}
	if e := m.peerCache.Load(); e != nil && e.version == version && e.cap == capH {
		return e.p, nil
	}
	p, err := c.parsePeer(m, version, capH)
	if err == nil && len(version) <= maxCachedHeaderLen && len(capH) <= maxCachedHeaderLen {
		m.peerCache.Store(&peerEntry{version: version, cap: capH, p: p})
	}
	return p, err
}

// parsePeer checks and interprets the single values version
// (rollpin-version) and capH (rollpin-cap) of a request to m; "" is an
// absent header.
func (c *core) parsePeer(m *method, version, capH string) (peerCall, error) {
	client, hasVersion, err := c.parseHeader(m, HeaderVersion, version)
	if err != nil {
		return peerCall{}, err
	}
	capM, hasCap, err := c.parseHeader(m, HeaderCap, capH)
	if err != nil {
		return peerCall{}, err
	}
	if m.own.IsEmpty() {
		// Nothing in the method's messages is versioned: no header can
		// change how a request is read.
		return peerCall{}, nil
	}
	var sent backport.Manifest
	switch {
	case !hasVersion && !hasCap:
		return c.noHeaders(m)
	case !hasVersion:
		// Sent at the cap, by a caller that proves no more than the cap:
		// responses are shaped for the cap too.
		sent, client = capM, capM
	case !hasCap:
		sent = client
	default:
		sent = backport.Min(client, capM)
	}
	if !c.own.Covers(sent) {
		return peerCall{}, c.senderTooNew(m, sent)
	}
	return peerCall{
		sent:   sent,
		client: client,
		fill:   !sent.Covers(m.own),
		down:   !client.Covers(m.own),
	}, nil
}

// parseHeader parses the value v of header name in a request to m. ok is
// false when the header counts as absent: empty, or naming none of m's
// tracks.
func (c *core) parseHeader(m *method, name, v string) (_ backport.Manifest, ok bool, _ error) {
	if v == "" {
		return backport.Manifest{}, false, nil
	}
	h, err := c.headers.parse(v)
	if err != nil {
		return backport.Manifest{}, false, c.reject(m, ReasonMalformedHeader, refusal.BadHeader, codes.InvalidArgument,
			"rollpin: malformed "+name+" header "+quote(v)+" in the request to "+m.full+": "+err.Error()+
				"; it must be track=MAJOR.MINOR entries joined by commas",
			map[string]string{refusal.KeyHeader: name})
	}
	for _, t := range m.tracks {
		if _, ok := h.Get(t); ok {
			return h, true, nil
		}
	}
	return backport.Manifest{}, false, nil
}

// noHeaders answers a request to m that proves no version.
func (c *core) noHeaders(m *method) (peerCall, error) {
	if c.o.noHeaders == NoHeadersReject {
		return peerCall{}, c.reject(m, ReasonNoHeaders, refusal.MissingHeader, codes.FailedPrecondition,
			"rollpin: the request to "+m.full+" carries no "+HeaderVersion+" header naming its track ("+strings.Join(m.tracks, ", ")+
				") and this server rejects such requests; install rollpin's client interceptors in the caller",
			map[string]string{refusal.KeyHeader: HeaderVersion})
	}
	return peerCall{}, nil
}

// repeatedHeader refuses a request to m carrying several values of header
// name: which one the caller meant is not knowable.
func (c *core) repeatedHeader(m *method, name string, vs []string) error {
	return c.reject(m, ReasonMalformedHeader, refusal.BadHeader, codes.InvalidArgument, fmt.Sprintf(
		"rollpin: the request to %s carries %d values of %s; send exactly one (a proxy must replace the header, not append to it)",
		m.full, len(vs), name), map[string]string{refusal.KeyHeader: name})
}

// fillRequest sets the defaults of msg for a request sent at p.sent.
func (c *core) fillRequest(m *method, p *peerCall, msg any) error {
	pm, ok := msg.(proto.Message)
	if !ok {
		return nil
	}
	if err := c.eng.FillDefaultsObserved(pm, p.sent, c.obs); err != nil {
		return c.fillError(m, "the request", p.sent, err)
	}
	return nil
}

// downgradeMsg returns msg (what: "the request" or "the response" of m)
// made conformant to the manifest to: a request to the cap it is sent at, a
// response to the caller's version. Values that are not proto messages pass
// unchanged.
func (c *core) downgradeMsg(m *method, what string, to backport.Manifest, msg any) (any, error) {
	pm, ok := msg.(proto.Message)
	if !ok {
		return msg, nil
	}
	out, err := c.eng.DowngradeObserved(pm, to, c.obs)
	if err != nil {
		return nil, c.downgradeError(m, what, to, err)
	}
	return out, nil
}

func (c *core) serverDowngrades(m *method, p *peerCall) {
	if c.o.reporter != nil {
		c.o.reporter.CallDowngraded(m.full)
	}
	if l := c.o.logger; l.Enabled(context.Background(), levelDebug) {
		l.Debug("rollpin: answering an older caller", "method", m.full, "caller", p.client.String())
	}
}

// UnaryServerInterceptor returns a server interceptor that reads the
// caller's rollpin headers, refuses with FAILED_PRECONDITION a request that
// claims a version newer than this server (INVALID_ARGUMENT for a malformed
// header), fills declared defaults for fields the caller could not know,
// downgrades the response to the caller's version and sends this server's
// rollpin-version in the response headers. Requests without headers follow
// WithNoHeaders. Methods not in the files pass through untouched. Safe for
// concurrent use; the common path takes no lock.
func UnaryServerInterceptor(opts ...Option) grpc.UnaryServerInterceptor {
	c := newCore(evaluateOptions(opts))
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		m := c.method(info.FullMethod)
		if m == nil {
			return handler(ctx, req)
		}
		if m.err != nil {
			return nil, status.Errorf(codes.Internal, "rollpin: %v", m.err)
		}
		p, err := c.incoming(ctx, m)
		if err != nil {
			return nil, err
		}
		_ = grpc.SetHeader(ctx, m.ownMD) // fails only outside a gRPC server
		if p.fill {
			if err := c.fillRequest(m, &p, req); err != nil {
				return nil, err
			}
		}
		resp, err := handler(ctx, req)
		if err != nil || !p.down {
			return resp, err
		}
		c.serverDowngrades(m, &p)
		return c.downgradeMsg(m, "the response", p.client, resp)
	}
}

// StreamServerInterceptor returns the streaming counterpart of
// UnaryServerInterceptor: headers are checked before the handler runs, every
// received message gets defaults filled and every sent message is
// downgraded to the caller's version.
func StreamServerInterceptor(opts ...Option) grpc.StreamServerInterceptor {
	c := newCore(evaluateOptions(opts))
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		m := c.method(info.FullMethod)
		if m == nil {
			return handler(srv, ss)
		}
		if m.err != nil {
			return status.Errorf(codes.Internal, "rollpin: %v", m.err)
		}
		p, err := c.incoming(ss.Context(), m)
		if err != nil {
			return err
		}
		_ = ss.SetHeader(m.ownMD)
		if !p.fill && !p.down {
			return handler(srv, ss)
		}
		if p.down {
			c.serverDowngrades(m, &p)
		}
		return handler(srv, &serverStream{ServerStream: ss, c: c, m: m, p: p})
	}
}

// serverStream fills defaults in received messages and downgrades sent ones.
type serverStream struct {
	grpc.ServerStream
	c *core
	m *method
	p peerCall
}

func (s *serverStream) RecvMsg(msg any) error {
	if err := s.ServerStream.RecvMsg(msg); err != nil {
		return err
	}
	if !s.p.fill {
		return nil
	}
	return s.c.fillRequest(s.m, &s.p, msg)
}

func (s *serverStream) SendMsg(msg any) error {
	if s.p.down {
		out, err := s.c.downgradeMsg(s.m, "the response", s.p.client, msg)
		if err != nil {
			return err
		}
		msg = out
	}
	return s.ServerStream.SendMsg(msg)
}
