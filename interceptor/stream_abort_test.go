package interceptor_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/interceptor"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

// handlerEnd is how one server stream handler ended.
type handlerEnd struct {
	method string
	code   codes.Code // status code of the handler's error
	ctxErr error      // the stream context's error when it ended
}

// watchHandlers is a stream server interceptor that reports when each
// stream handler (the generated stub included) starts and ends.
type watchHandlers struct {
	started chan string
	ended   chan handlerEnd
}

func (w *watchHandlers) intercept(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	w.started <- info.FullMethod
	err := handler(srv, ss)
	w.ended <- handlerEnd{method: info.FullMethod, code: status.Code(err), ctxErr: ss.Context().Err()}
	return err
}

// TestRefusedStreamMessageAbortsStream: a message the client interceptor
// refuses (a REJECT field set above the pin) aborts the stream, whatever its
// kind: the caller's next receive returns the refusal instead of blocking,
// the server handler observes the cancellation and ends, and no goroutine of
// the call is left while the caller's context is still alive.
func TestRefusedStreamMessageAbortsStream(t *testing.T) {
	w := &watchHandlers{started: make(chan string, 1), ended: make(chan handlerEnd, 1)}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(interceptor.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(w.intercept, interceptor.StreamServerInterceptor()),
	)
	itestv1.RegisterVolumeServiceServer(srv, &newServer{})
	cc := serve(t, bufNet, srv)(rollpinClient(interceptor.StaticPins{service: v11})...)
	// Connect first, so that the transport's goroutines are not the call's.
	if _, err := itestv1.NewVolumeServiceClient(cc).Create(t.Context(), newRequest()); err != nil {
		t.Fatal(err)
	}
	before := goleak.IgnoreCurrent()

	refused := newRequest()
	refused.Encryption = &itestv1.Encryption{KeyId: "k1"}
	for _, tc := range []struct {
		method string
		desc   *grpc.StreamDesc
	}{
		{mUpload, &itestv1.VolumeService_ServiceDesc.Streams[0]},
		{mWatch, &itestv1.VolumeService_ServiceDesc.Streams[1]},
		{mSync, &itestv1.VolumeService_ServiceDesc.Streams[2]},
	} {
		t.Run(tc.desc.StreamName, func(t *testing.T) {
			// The deadline only keeps a broken build from hanging: a stream
			// that is not aborted ends with DEADLINE_EXCEEDED, which fails.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			st, err := cc.NewStream(ctx, tc.desc, tc.method)
			if err != nil {
				t.Fatal(err)
			}
			if got := <-w.started; got != tc.method {
				t.Fatalf("server started %s, want %s", got, tc.method)
			}
			wantCode(t, st.SendMsg(refused), codes.FailedPrecondition, "encryption")
			// A receive after the refusal returns it, not a later deadline.
			wantCode(t, st.RecvMsg(&itestv1.Volume{}), codes.FailedPrecondition, "encryption")
			end := <-w.ended
			if end.method != tc.method || end.code != codes.Canceled || end.ctxErr != context.Canceled {
				t.Errorf("server handler ended with %+v, want %s ended by the caller's cancellation (Canceled, context.Canceled)", end, tc.method)
			}
			if err := goleak.Find(before); err != nil {
				t.Errorf("goroutines left by the refused %s stream while its context is alive: %v", tc.desc.StreamName, err)
			}
		})
	}

	// The generated server-streaming stub returns SendMsg's error and drops
	// the stream: the abort is all that ends the server side (if the stream
	// reached it at all).
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := itestv1.NewVolumeServiceClient(cc).Watch(ctx, refused)
	wantCode(t, err, codes.FailedPrecondition, "encryption")
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines left by the refused generated Watch call: %v", err)
	}
}
