package main

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// TestReadHistory replays a scripted history from a real etcd: pin writes
// are listed in order with the 1.3 instances live at each, and the revision
// at which the last 1.3 instance left is found.
func TestReadHistory(t *testing.T) {
	ctx := context.Background()
	cli := etcdtest.Start(t).Client(t)
	const prefix = "/demo/"
	inst := prefix + "instances/" + fleet.Service + "/"
	put := func(key string, m proto.Message) int64 {
		t.Helper()
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cli.Put(ctx, key, string(b))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	del := func(key string) int64 {
		t.Helper()
		resp, err := cli.Delete(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	pin := func(m string) *rollpinv1.Pin { return &rollpinv1.Pin{Manifest: m, UpdatedBy: "controller"} }
	at := func(m string) *rollpinv1.Instance { return &rollpinv1.Instance{Manifest: m} }

	put(inst+"a", at("acme.volume.v1=1.3"))
	put(inst+"b", at("acme.volume.v1=1.3"))
	r1 := put(prefix+"pins/"+fleet.Service, pin("acme.volume.v1=1.3"))
	put(prefix+"pins/other.Service", pin("other.v1=9.9")) // another service: ignored
	del(inst + "a")
	put(inst+"c", at("acme.volume.v1=1.4"))
	gone := del(inst + "b")
	r2 := put(prefix+"pins/"+fleet.Service, pin("acme.volume.v1=1.4"))

	h, err := readHistory(ctx, cli, prefix)
	if err != nil {
		t.Fatalf("readHistory: %v", err)
	}
	want := []PinChange{
		{Revision: r1, Manifest: "acme.volume.v1=1.3", UpdatedBy: "controller", Live13: 2},
		{Revision: r2, Manifest: "acme.volume.v1=1.4", UpdatedBy: "controller", Live13: 0},
	}
	if diff := cmp.Diff(want, h.Pins); diff != "" {
		t.Errorf("Pins (-want +got):\n%s", diff)
	}
	if h.Last13Gone != gone {
		t.Errorf("Last13Gone = %d, want %d", h.Last13Gone, gone)
	}

	// A 1.3 instance that comes back means no "last one left" revision.
	put(inst+"d", at("acme.volume.v1=1.3"))
	if h, err = readHistory(ctx, cli, prefix); err != nil {
		t.Fatalf("readHistory: %v", err)
	}
	if h.Last13Gone != 0 {
		t.Errorf("Last13Gone with a 1.3 instance live = %d, want 0", h.Last13Gone)
	}
}
