package pinsvc_test

import (
	"context"
	"log"
	"net"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// A PinService on an existing etcd, with writes reserved to the admin token.
func ExampleNewServer() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	srv, err := pinsvc.NewServer(cli, pinsvc.WithAdminToken("change-me"))
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	gs := grpc.NewServer()
	rollpinv1.RegisterPinServiceServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:7070")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(gs.Serve(lis))
}
