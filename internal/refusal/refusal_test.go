package refusal

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorRoundTrip(t *testing.T) {
	err := Error(codes.FailedPrecondition, Fenced, "fenced: lower the pin", map[string]string{KeyService: "a.v1.S"})
	if got := status.Code(err); got != codes.FailedPrecondition {
		t.Fatalf("Code = %v, want FailedPrecondition", got)
	}
	info, ok := Of(fmt.Errorf("wrapped: %w", err))
	if !ok || info.GetReason() != Fenced || info.GetMetadata()[KeyService] != "a.v1.S" {
		t.Fatalf("Of = %v, %v; want reason %s with service a.v1.S", info, ok, Fenced)
	}
	if _, ok := Of(status.Error(codes.FailedPrecondition, "server's own")); ok {
		t.Fatal("Of(plain status) = true, want false")
	}
	if _, ok := Of(nil); ok {
		t.Fatal("Of(nil) = true, want false")
	}
}
