package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRPCErrorNamesCauseAndFix(t *testing.T) {
	a := newApp(streams{})
	a.endpoints, a.timeout = "p0:7070,p1:7070", 3*time.Second
	tests := []struct {
		err  error
		want string
	}{
		{status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp: connect: connection refused"`), "cannot reach pind at p0:7070,p1:7070 to read (connection error"},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: bad certificate"`), "check the TLS flags"},
		{status.Error(codes.Unavailable, "etcd: context deadline exceeded (pind keeps retrying; retry the call)"), "pind at p0:7070,p1:7070 cannot read now: etcd:"},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), "did not answer within 3s to read"},
		{status.Error(codes.Unauthenticated, "writes need credentials"), "pass an admin token with --token (or PINDCTL_TOKEN)"},
		{status.Error(codes.PermissionDenied, "wrong token"), "not allowed to read (wrong token)"},
		{status.Error(codes.Aborted, "revision 7 is stale"), "pin changed since read; run again"},
		{status.Error(codes.FailedPrecondition, "the pin is above the floor"), "refused: the pin is above the floor"},
		{status.Error(codes.NotFound, "no service x"), "read: no service x"},
		{status.Error(codes.InvalidArgument, "bad manifest"), "pind rejected the request to read: bad manifest"},
		{status.Error(codes.Unimplemented, "unknown method"), "upgrade pind"},
		{status.Error(codes.Canceled, "context canceled"), "read: interrupted"},
		{context.Canceled, "read: interrupted"},
		{status.Error(codes.Internal, "boom"), "read failed: Internal: boom"},
	}
	for _, tc := range tests {
		got := a.rpcError("read", tc.err)
		if got == nil || !strings.Contains(got.Error(), tc.want) {
			t.Errorf("rpcError(%v) = %v, want it to contain %q", tc.err, got, tc.want)
		}
		if exitCode(got) != exitFailed {
			t.Errorf("exitCode(rpcError(%v)) = %d, want %d", tc.err, exitCode(got), exitFailed)
		}
	}
}
