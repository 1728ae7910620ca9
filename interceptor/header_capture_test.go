package interceptor_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/rollpin/rollpin/interceptor"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

// lateAttempts is a client interceptor placed below rollpin's that behaves
// like hedging: each call's response header destination is also written,
// later, by a straggling attempt of that call (here, from a replica of an
// incompatible build, 0.9) — after the call has returned, while the next
// call is in flight.
type lateAttempts struct {
	mu      sync.Mutex
	seen    map[*metadata.MD]int // every destination handed down → call number
	pending []*metadata.MD       // destinations of earlier calls
	calls   int
	shared  [][2]int // {earlier call, later call} handed one destination
}

func (l *lateAttempts) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	// The straggling attempts of earlier calls finish now.
	for _, d := range l.pending {
		*d = metadata.MD{interceptor.HeaderVersion: {track + "=0.9"}}
	}
	l.pending = l.pending[:0]
	for _, o := range opts {
		var dest *metadata.MD
		switch h := o.(type) {
		case grpc.HeaderCallOption:
			dest = h.HeaderAddr
		case *grpc.HeaderCallOption:
			dest = h.HeaderAddr
		default:
			continue
		}
		if first, ok := l.seen[dest]; ok {
			l.shared = append(l.shared, [2]int{first, l.calls})
		}
		l.seen[dest] = l.calls
		l.pending = append(l.pending, dest)
	}
	return err
}

// TestHeaderDestinationIsPerCall: the client interceptor hands each call its
// own response header destination, so that an interceptor below it that
// writes a destination after the call returned (hedging, retries) cannot
// change what a later call reads as its server's version.
func TestHeaderDestinationIsPerCall(t *testing.T) {
	t.Parallel()
	_, dial := startNew(t, bufNet)
	late := &lateAttempts{seen: map[*metadata.MD]int{}}
	cc := dial(grpc.WithChainUnaryInterceptor(
		interceptor.UnaryClientInterceptor(interceptor.StaticPins{service: v11}),
		late.intercept,
	))
	cli := itestv1.NewVolumeServiceClient(cc)
	for i := range 50 {
		got, err := cli.Create(t.Context(), newRequest())
		if err != nil {
			t.Fatalf("call %d: %v; want success (the server answering it runs 1.2)", i+1, err)
		}
		if got.GetName() != "vol" {
			t.Fatalf("call %d: response %v, want name vol", i+1, got)
		}
	}
	late.mu.Lock()
	defer late.mu.Unlock()
	if len(late.shared) > 0 {
		t.Errorf("calls handed the header destination of an earlier call ({earlier, later}): %v", late.shared)
	}
}
