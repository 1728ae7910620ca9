package main

import (
	"strings"
	"testing"

	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestServerReflection(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, nil)
	stream, err := reflectionpb.NewServerReflectionClient(d.conn).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), rollpinv1.PinService_ServiceDesc.ServiceName) {
		t.Errorf("reflection lists %v, want %s", names, rollpinv1.PinService_ServiceDesc.ServiceName)
	}
	stream.CloseSend()
}
