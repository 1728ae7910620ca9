package main

import (
	"slices"
	"testing"

	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// pind answers gRPC server reflection, so grpcurl can list and call it.
func TestReflectionListsServices(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, nil)
	stream, err := reflectionpb.NewServerReflectionClient(d.conn).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()

	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("list services: %v", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{rollpinv1.PinService_ServiceDesc.ServiceName, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %q, want it to include %s", names, want)
		}
	}

	// The descriptor of PinService is served too (grpcurl describe).
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: rollpinv1.PinService_ServiceDesc.ServiceName},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err = stream.Recv()
	if err != nil {
		t.Fatalf("file containing symbol: %v", err)
	}
	files := resp.GetFileDescriptorResponse().GetFileDescriptorProto()
	if len(files) == 0 {
		t.Fatalf("reflection answered %v, want the file of PinService", resp)
	}
	fd := &descriptorpb.FileDescriptorProto{}
	if err := proto.Unmarshal(files[0], fd); err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, s := range fd.GetService() {
		for _, m := range s.GetMethod() {
			methods = append(methods, m.GetName())
		}
	}
	if !slices.Contains(methods, "GetPins") || !slices.Contains(methods, "SetPin") {
		t.Errorf("file %s has methods %q, want GetPins and SetPin", fd.GetName(), methods)
	}
}
