package interceptor

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
)

// peerCall is what the server learned from a request's rollpin headers.
type peerCall struct {
	sent   backport.Manifest // Min(rollpin-version, rollpin-cap): what the request speaks
	client backport.Manifest // rollpin-version: what responses are downgraded to
	fill   bool              // sent is older than this server somewhere: fill defaults
	down   bool              // client is older than this server somewhere: downgrade responses
}

// incoming reads the rollpin headers of a request to m. The common case (the
// caller runs this server's version, not downgraded) costs two header
// lookups without copying the metadata, one allocation and one string
// comparison; the outcome for the last other pair of header values is kept
// on the method, and header values are parsed once and cached.
func (c *core) incoming(ctx context.Context, m *method) (peerCall, error) {
	vs := metadata.ValueFromIncomingContext(ctx, HeaderVersion)
	if len(vs) == 0 {
		if c.o.noHeaders == NoHeadersReject {
			return peerCall{}, c.reject(m.full, ReasonNoHeaders, codes.FailedPrecondition,
				"rollpin: the request to "+m.full+" carries no "+HeaderVersion+" header and this server rejects such requests; "+
					"install rollpin's client interceptors in the caller")
		}
		return peerCall{}, nil
	}
	caps := metadata.ValueFromIncomingContext(ctx, HeaderCap)
	if len(caps) == 0 && vs[0] == m.ownHeader {
		return peerCall{}, nil
	}
	capH := ""
	if len(caps) > 0 {
		capH = caps[0]
	}
	if e := m.peerCache.Load(); e != nil && e.version == vs[0] && e.cap == capH {
		return e.p, nil
	}
	p, err := c.parsePeer(m, vs, caps)
	if err == nil && len(vs[0]) <= maxCachedHeaderLen && len(capH) <= maxCachedHeaderLen {
		m.peerCache.Store(&peerEntry{version: vs[0], cap: capH, p: p})
	}
	return p, err
}

// parsePeer checks and interprets the header values vs (rollpin-version)
// and caps (rollpin-cap) of a request to m.
func (c *core) parsePeer(m *method, vs, caps []string) (peerCall, error) {
	client, err := c.headers.parse(vs[0])
	if err != nil {
		return peerCall{}, c.reject(m.full, ReasonMalformedHeader, codes.InvalidArgument,
			"rollpin: malformed "+HeaderVersion+" header "+quote(vs[0])+" in the request to "+m.full+": "+err.Error()+
				"; it must be track=MAJOR.MINOR entries joined by commas")
	}
	sent := client
	if len(caps) > 0 {
		capM, err := c.headers.parse(caps[0])
		if err != nil {
			return peerCall{}, c.reject(m.full, ReasonMalformedHeader, codes.InvalidArgument,
				"rollpin: malformed "+HeaderCap+" header "+quote(caps[0])+" in the request to "+m.full+": "+err.Error()+
					"; it must be track=MAJOR.MINOR entries joined by commas")
		}
		sent = backport.Min(client, capM)
	}
	if !c.own.Covers(sent) {
		return peerCall{}, c.reject(m.full, ReasonVersionTooNew, codes.FailedPrecondition,
			"rollpin: the request to "+m.full+" is newer than this server ("+versionTooNew(sent, c.own)+
				"); the caller's pin for "+m.service+" is wrong: it must not exceed the oldest running instance, lower it with pindctl")
	}
	return peerCall{
		sent:   sent,
		client: client,
		fill:   !sent.Covers(m.own),
		down:   !client.Covers(m.own),
	}, nil
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
