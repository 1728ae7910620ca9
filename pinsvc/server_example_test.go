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

// A raise decided outside pind (a release script, say): write the floor as
// the pin with a compare-and-swap on the revision the decision was made on.
// The built-in RaiseController does not use RaisePin: its transaction also
// checks that no instance registered since and that it still leads.
func ExampleServer_RaisePin() {
	var srv *pinsvc.Server // started as in ExampleNewServer
	st := srv.Snapshot()
	v := st.Service("acme.volume.v1.VolumeService")
	if v == nil {
		return
	}
	if _, err := srv.RaisePin(context.Background(), v.Name, v.Floor, v.PinRevision, "release-script", "floor settled"); err != nil {
		log.Printf("raise lost a race, decide again on fresh state: %v", err)
	}
}
