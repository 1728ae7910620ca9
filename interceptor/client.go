package interceptor

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
)

const (
	levelWarn  = slog.LevelWarn
	levelInfo  = slog.LevelInfo
	levelDebug = slog.LevelDebug
)

type clientCore struct {
	*core
	pins PinSource
}

func newClientCore(pins PinSource, opts []Option) *clientCore {
	return &clientCore{core: newCore(evaluateOptions(opts)), pins: pins}
}

// route decides which method a call is sent to and under which cap. m == nil
// means the method is not in the files: the call passes through untouched.
func (c *clientCore) route(fullMethod string) (*method, *capState, error) {
	m := c.method(fullMethod)
	if m == nil {
		return nil, nil, nil
	}
	if m.err != nil {
		return nil, nil, status.Errorf(codes.Internal, "rollpin: %v", m.err)
	}
	cap, ok := c.pins.Cap(m.service)
	if !ok && c.o.unknownService == UnknownServiceFail {
		return nil, nil, c.unknownService(m)
	}
	s := m.capFor(cap)
	if !s.tooNew {
		return m, s, nil
	}
	switch {
	case m.fallback != nil:
		fs := m.fallback.capFor(cap)
		if !fs.tooNew {
			if l := c.o.logger; l.Enabled(context.Background(), levelInfo) {
				l.Info("rollpin: method newer than the pin, calling its fallback",
					"method", m.full, "fallback", m.fallback.full, "cap", s.restricted.String())
			}
			return m.fallback, fs, nil
		}
		return nil, nil, c.methodTooNew(m, s, ", and its fallback "+m.fallback.full+" is newer than the pin too")
	case m.fallbackErr != nil:
		return nil, nil, c.methodTooNew(m, s, " (its registered fallback is unusable: "+m.fallbackErr.Error()+")")
	}
	return nil, nil, c.methodTooNew(m, s, "")
}

// withHeaders attaches the rollpin headers of s to ctx, replacing any
// rollpin headers already there (a proxy forwarding its caller's metadata).
// Without outgoing metadata it shares the precomputed MD: two allocations.
func withHeaders(ctx context.Context, s *capState) context.Context {
	md, ok := metadata.FromOutgoingContext(ctx) // a copy, ours to modify
	if !ok {
		return metadata.NewOutgoingContext(ctx, s.md)
	}
	md[HeaderVersion] = s.md[HeaderVersion]
	if v, ok := s.md[HeaderCap]; ok {
		md[HeaderCap] = v
	} else {
		delete(md, HeaderCap)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// fill sets defaults in a response sent by a server whose headers are hdr.
// Without rollpin-version (or with an empty one) nothing is known about the
// server and nothing is filled; several values of it are an error.
func (c *clientCore) fill(m *method, hdr metadata.MD, reply any) error {
	vs := hdr[HeaderVersion]
	if len(vs) == 0 {
		return nil // not a rollpin server: nothing is known about its version
	}
	msg, ok := reply.(proto.Message)
	if !ok {
		return nil
	}
	if len(vs) > 1 {
		// Which version answered is not knowable; picking one could leave
		// defaults unfilled.
		return status.Errorf(codes.Internal, "rollpin: the server of %s sent %d values of the %s header; a rollpin server sends one (a proxy must not append to it)",
			m.full, len(vs), HeaderVersion)
	}
	srv, err := c.headers.parse(vs[0])
	if err != nil {
		return status.Errorf(codes.Internal, "rollpin: the server of %s sent a malformed %s header %s: %v", m.full, HeaderVersion, quote(vs[0]), err)
	}
	if srv.Covers(m.own) {
		return nil
	}
	if err := c.eng.FillDefaultsObserved(msg, srv, c.obs); err != nil {
		return c.fillError(m, "the response", srv, err)
	}
	return nil
}

func (c *clientCore) downgraded(m *method, s *capState) {
	if c.o.reporter != nil {
		c.o.reporter.CallDowngraded(m.full)
	}
	if l := c.o.logger; l.Enabled(context.Background(), levelDebug) {
		l.Debug("rollpin: downgrading call", "method", m.full, "cap", s.restricted.String())
	}
}

// responseMayNeedFill reports whether the reply of a call made under s may
// need defaults, so that the server's rollpin-version must be collected. A
// server that answers runs at least the cap on every capped track (it
// refuses requests newer than itself), so on those tracks only fields with
// defaults newer than the cap can need filling.
func (s *capState) responseMayNeedFill(eng *backport.Engine, reply any) bool {
	if !s.serverMayBeOlder {
		return false
	}
	if s.uncapped {
		return true
	}
	pm, ok := reply.(proto.Message)
	if !ok {
		return false
	}
	return eng.MayFill(pm.ProtoReflect().Descriptor(), s.restricted)
}

// headerCapture receives one unary call's response headers: the header,
// the option pointing at it and room for the caller's options, in one
// allocation. It belongs to its call alone: interceptors below may keep the
// options or write the header after the call returned (hedging, retries),
// so it is never reused.
type headerCapture struct {
	hdr metadata.MD
	opt grpc.HeaderCallOption
	buf [4]grpc.CallOption
}

// UnaryClientInterceptor returns a client interceptor that caps every call
// at the pin of its target service (from pins): a method whose since is
// above the cap fails with FAILED_PRECONDITION without being sent (or goes to
// its WithFallback method), the request is downgraded to the cap (a REJECT
// field fails with FAILED_PRECONDITION without being sent), the
// rollpin-version and rollpin-cap headers are set, and defaults are filled in
// the response of an older server. Methods not in the files (WithFiles) pass
// through untouched. Safe for concurrent use; the common path takes no lock.
func UnaryClientInterceptor(pins PinSource, opts ...Option) grpc.UnaryClientInterceptor {
	c := newClientCore(pins, opts)
	return func(ctx context.Context, fullMethod string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		m, s, err := c.route(fullMethod)
		if err != nil {
			return err
		}
		if m == nil {
			return invoker(ctx, fullMethod, req, reply, cc, callOpts...)
		}
		if s.below {
			c.downgraded(m, s)
			if req, err = c.downgradeMsg(m, "the request", s.restricted, req); err != nil {
				return err
			}
		}
		ctx = withHeaders(ctx, s)
		if !s.responseMayNeedFill(c.eng, reply) {
			return invoker(ctx, m.full, req, reply, cc, callOpts...)
		}
		hc := &headerCapture{}
		hc.opt.HeaderAddr = &hc.hdr
		all := append(append(hc.buf[:0], callOpts...), &hc.opt)
		if err := invoker(ctx, m.full, req, reply, cc, all...); err != nil {
			return err
		}
		return c.fill(m, hc.hdr, reply)
	}
}

// StreamClientInterceptor returns the streaming counterpart of
// UnaryClientInterceptor: the method check happens before the stream is
// opened, every sent message is downgraded and every received message gets
// defaults filled from the server's rollpin-version header. A message it
// refuses (SendMsg) or cannot complete (RecvMsg) aborts the stream, as
// grpc.ClientStream promises for any error: the call is cancelled, so the
// server's handler ends, and every later SendMsg or RecvMsg returns the
// refusal.
func StreamClientInterceptor(pins PinSource, opts ...Option) grpc.StreamClientInterceptor {
	c := newClientCore(pins, opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, fullMethod string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		m, s, err := c.route(fullMethod)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return streamer(ctx, desc, cc, fullMethod, callOpts...)
		}
		if s.below {
			c.downgraded(m, s)
		}
		if !s.below && !s.serverMayBeOlder {
			return streamer(withHeaders(ctx, s), desc, cc, m.full, callOpts...)
		}
		// The wrapper may refuse a message: it needs a way to abort.
		ctx, cancel := context.WithCancel(withHeaders(ctx, s))
		cs, err := streamer(ctx, desc, cc, m.full, callOpts...)
		if err != nil {
			cancel()
			return nil, err
		}
		return &clientStream{ClientStream: cs, c: c, m: m, s: s, cancel: cancel, serverStreams: desc.ServerStreams}, nil
	}
}

// clientStream downgrades sent messages and fills defaults in received ones.
// SendMsg and RecvMsg may run on two goroutines at once (grpc-go allows it):
// what they share is the atomic refusal and the cancel function.
type clientStream struct {
	grpc.ClientStream
	c *clientCore
	m *method
	s *capState

	cancel        context.CancelFunc // aborts the call
	serverStreams bool               // false: the first received message ends the call
	refused       atomic.Pointer[error]

	hdr     metadata.MD // server headers, read after the first message (RecvMsg only)
	haveHdr bool
}

// abort records err as the reason the stream ended, cancels the call and
// returns err. The first refusal wins.
func (cs *clientStream) abort(err error) error {
	cs.refused.CompareAndSwap(nil, &err)
	cs.cancel()
	return *cs.refused.Load()
}

// refusal returns the error that aborted the stream, or nil.
func (cs *clientStream) refusal() error {
	if p := cs.refused.Load(); p != nil {
		return *p
	}
	return nil
}

func (cs *clientStream) SendMsg(msg any) error {
	if err := cs.refusal(); err != nil {
		return err
	}
	if cs.s.below {
		out, err := cs.c.downgradeMsg(cs.m, "the request", cs.s.restricted, msg)
		if err != nil {
			return cs.abort(err)
		}
		msg = out
	}
	return cs.ClientStream.SendMsg(msg)
}

func (cs *clientStream) RecvMsg(msg any) error {
	if err := cs.ClientStream.RecvMsg(msg); err != nil {
		// The call is over (io.EOF included); if rollpin aborted it, the
		// refusal says why better than the cancellation does.
		cs.cancel()
		if r := cs.refusal(); r != nil {
			return r
		}
		return err
	}
	if !cs.serverStreams {
		// grpc-go finishes a call without server streaming on its one
		// response: release the context now.
		cs.cancel()
	}
	if !cs.s.serverMayBeOlder {
		return nil
	}
	if !cs.haveHdr {
		hdr, err := cs.ClientStream.Header()
		if err != nil {
			return err
		}
		cs.hdr, cs.haveHdr = hdr, true
	}
	if err := cs.c.fill(cs.m, cs.hdr, msg); err != nil {
		return cs.abort(err)
	}
	return nil
}

// defaultCore serves CanSend without options.
var defaultCore = sync.OnceValue(func() *core { return newCore(evaluateOptions(nil)) })

// CanSend reports whether a call to fullMethod ("/pkg.Service/Method")
// would be sent under the current pins: nil, or the FAILED_PRECONDITION
// status the call would get because the method is newer than the pin of its
// service (a registered fallback counts as sendable) or, under
// UnknownServiceFail, the service has no pin. A method that is not in the
// files is always sendable (the interceptors pass it through). opts are those
// of the client interceptor; without them the per-method facts for
// GlobalFiles are cached. CanSend reports no metrics and logs nothing.
func CanSend(pins PinSource, fullMethod string, opts ...Option) error {
	c := &clientCore{core: defaultCore(), pins: pins}
	if len(opts) > 0 {
		c = newClientCore(pins, opts)
		// A question, not a call: nothing is counted or logged.
		c.o.reporter, c.obs, c.o.logger = nil, nil, defaultOptions.logger
	}
	_, _, err := c.route(fullMethod)
	return err
}
