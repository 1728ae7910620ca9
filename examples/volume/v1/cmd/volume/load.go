package main

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v1/volumepb"
)

// loadClient runs sequences of calls as a 1.3 client and checks every
// answer against what it asked.
type loadClient struct{ *fleet.Client }

// runSequence runs one sequence of a loadClient on connection cc.
func runSequence(c *fleet.Client, cc *grpc.ClientConn, r *rand.Rand, owner string) {
	(&loadClient{c}).sequence(volumepb.NewVolumeServiceClient(cc), r, owner)
}

// volumeMismatch compares a volume with what was asked.
func volumeMismatch(v *volumepb.Volume, req *volumepb.CreateVolumeRequest, hosts []string) string {
	switch {
	case v.GetName() != req.GetName():
		return fmt.Sprintf("name %q, asked %q", v.GetName(), req.GetName())
	case v.GetOwner() != req.GetOwner():
		return fmt.Sprintf("owner %q, asked %q", v.GetOwner(), req.GetOwner())
	case v.GetSizeGb() != req.GetSizeGb():
		return fmt.Sprintf("size %d GiB, asked %d GiB", v.GetSizeGb(), req.GetSizeGb())
	case v.GetType() != req.GetType():
		return fmt.Sprintf("type %v, asked %v", v.GetType(), req.GetType())
	case !slices.Equal(v.GetAttachedHosts(), hosts):
		return fmt.Sprintf("attached to %v, want %v", v.GetAttachedHosts(), hosts)
	}
	return ""
}

func (c *loadClient) sequence(vc volumepb.VolumeServiceClient, r *rand.Rand, owner string) {
	req := &volumepb.CreateVolumeRequest{
		Name:   "vol-" + owner,
		SizeGb: 1 + r.Int64N(100),
		Type:   []volumepb.VolumeType{volumepb.VolumeType_VOLUME_TYPE_HDD, volumepb.VolumeType_VOLUME_TYPE_SSD}[r.IntN(2)],
		Owner:  owner,
	}
	v, err := fleet.Call(c.Client, vc.CreateVolume, req)
	if !c.Record("CreateVolume", err, volumeMismatch(v, req, nil)) {
		return
	}
	id := v.GetId()
	v, err = fleet.Call(c.Client, vc.GetVolume, &volumepb.GetVolumeRequest{Id: id})
	if !c.Record("GetVolume", err, volumeMismatch(v, req, nil)) {
		return
	}
	v, err = fleet.Call(c.Client, vc.AttachVolume, &volumepb.AttachVolumeRequest{Id: id, Host: "host-a"})
	if !c.Record("AttachVolume", err, volumeMismatch(v, req, []string{"host-a"})) {
		return
	}
	// A 1.3 volume is attached to one host at most: a second attach must be
	// refused by the server, whatever its version.
	_, err = fleet.Call(c.Client, vc.AttachVolume, &volumepb.AttachVolumeRequest{Id: id, Host: "host-b"})
	c.RecordRefusal("AttachVolume (second host)", err, "AttachVolume: a single-attach volume was attached to a second host")
	mm, err := c.list(vc, owner, id, req)
	c.Record("ListVolumes", err, mm)
}

// list checks that ListVolumes streams exactly the one volume of owner.
func (c *loadClient) list(vc volumepb.VolumeServiceClient, owner, id string, req *volumepb.CreateVolumeRequest) (mismatch string, err error) {
	got, err := fleet.CallStream(c.Client, vc.ListVolumes, &volumepb.ListVolumesRequest{Owner: owner})
	if err != nil {
		return "", err
	}
	if len(got) != 1 || got[0].GetId() != id {
		return fmt.Sprintf("listed %d volumes, want exactly %s", len(got), id), nil
	}
	return volumeMismatch(got[0], req, []string{"host-a"}), nil
}

// seed creates one 1.3 volume for the demo's readback check.
func seed(c *fleet.Client, cc *grpc.ClientConn, name string, gb int64) (string, bool) {
	req := &volumepb.CreateVolumeRequest{Name: name, SizeGb: gb, Type: volumepb.VolumeType_VOLUME_TYPE_HDD, Owner: name}
	v, err := fleet.Call(c, volumepb.NewVolumeServiceClient(cc).CreateVolume, req)
	return v.GetId(), c.Record("CreateVolume (seed)", err, volumeMismatch(v, req, nil))
}
