package main

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
)

// loadClient runs sequences of calls as a 1.4 client and checks every
// answer against what it asked. Like an application written for a rolling
// upgrade, it asks for a thick volume (thin=false, a field a 1.3 server
// would drop) only when the cap of the service is 1.4; multi-attach volumes
// and ResizeVolume it just tries, and counts the FAILED_PRECONDITION
// refusals the interceptors give while the cap is 1.3.
type loadClient struct{ *fleet.Client }

// runSequence runs one sequence of a loadClient on connection cc.
func runSequence(c *fleet.Client, cc *grpc.ClientConn, r *rand.Rand, owner string) {
	(&loadClient{c}).sequence(volumepb.NewVolumeServiceClient(cc), r, owner)
}

// sizeOf is a volume's size in MiB: size_mib, or size_gb from a 1.3 server.
func sizeOf(v *volumepb.Volume) int64 {
	if v.GetSizeMib() > 0 {
		return v.GetSizeMib()
	}
	return v.GetSizeGb() * 1024
}

// askedMiB is the size a request asks for, in MiB.
func askedMiB(req *volumepb.CreateVolumeRequest) int64 {
	if req.GetSizeMib() > 0 {
		return req.GetSizeMib()
	}
	return req.GetSizeGb() * 1024
}

// volumeMismatch compares a volume with what was asked. capped says the
// request was sent under a cap below 1.4, where an NVMe volume is created as
// SSD (downgrade_to) and a size in MiB is rounded up to whole GiB (the
// size_mib hook): both keep the meaning a 1.3 server can give.
func volumeMismatch(v *volumepb.Volume, req *volumepb.CreateVolumeRequest, capped bool, hosts []string) string {
	asked, got := askedMiB(req), sizeOf(v)
	switch {
	case v.GetName() != req.GetName():
		return fmt.Sprintf("name %q, asked %q", v.GetName(), req.GetName())
	case v.GetOwner() != req.GetOwner():
		return fmt.Sprintf("owner %q, asked %q", v.GetOwner(), req.GetOwner())
	case got != asked && !(capped && got == (asked+1023)/1024*1024):
		return fmt.Sprintf("size %d MiB, asked %d MiB", got, asked)
	case v.GetType() != req.GetType() && !(capped &&
		req.GetType() == volumepb.VolumeType_VOLUME_TYPE_NVME && v.GetType() == volumepb.VolumeType_VOLUME_TYPE_SSD):
		return fmt.Sprintf("type %v, asked %v", v.GetType(), req.GetType())
	case v.GetThin() != req.GetThin():
		return fmt.Sprintf("thin=%t, asked thin=%t", v.GetThin(), req.GetThin())
	case v.GetMultiAttach() != req.GetMultiAttach():
		return fmt.Sprintf("multi_attach=%t, asked multi_attach=%t", v.GetMultiAttach(), req.GetMultiAttach())
	case !slices.Equal(v.GetAttachedHosts(), hosts):
		return fmt.Sprintf("attached to %v, want %v", v.GetAttachedHosts(), hosts)
	}
	return ""
}

func (c *loadClient) sequence(vc volumepb.VolumeServiceClient, r *rand.Rand, owner string) {
	allowed := c.Allows14()
	req := &volumepb.CreateVolumeRequest{
		Name:        "vol-" + owner,
		Owner:       owner,
		Type:        volumepb.VolumeType(1 + r.IntN(3)), // HDD, SSD or NVME
		Thin:        !allowed || r.IntN(2) == 0,         // thick only under a 1.4 cap
		MultiAttach: r.IntN(4) == 0,
	}
	if r.IntN(2) == 0 {
		req.SizeMib = 512 + r.Int64N(8192)
	} else {
		req.SizeGb = 1 + r.Int64N(100)
	}
	v, err := fleet.Call(c.Client, vc.CreateVolume, req)
	if req.MultiAttach && c.Refused(allowed, err) {
		c.Tally.Inc(fleet.MultiAttachRefused)
		return
	}
	if !c.Record("CreateVolume", err, volumeMismatch(v, req, !allowed, nil)) {
		return
	}
	if req.MultiAttach {
		c.Tally.Inc(fleet.MultiAttachOK)
	}
	if req.Type == volumepb.VolumeType_VOLUME_TYPE_NVME {
		if v.GetType() == volumepb.VolumeType_VOLUME_TYPE_NVME {
			c.Tally.Inc(fleet.NVMeOK)
		} else {
			c.Tally.Inc(fleet.NVMeDowngraded)
		}
	}
	// From here on the volume as created is the reference.
	req.Type, req.SizeMib, req.SizeGb = v.GetType(), sizeOf(v), 0
	id := v.GetId()
	v, err = fleet.Call(c.Client, vc.GetVolume, &volumepb.GetVolumeRequest{Id: id})
	if !c.Record("GetVolume", err, volumeMismatch(v, req, false, nil)) {
		return
	}
	v, err = fleet.Call(c.Client, vc.AttachVolume, &volumepb.AttachVolumeRequest{Id: id, Host: "host-a"})
	if !c.Record("AttachVolume", err, volumeMismatch(v, req, false, []string{"host-a"})) {
		return
	}
	hosts := []string{"host-a"}
	v, err = fleet.Call(c.Client, vc.AttachVolume, &volumepb.AttachVolumeRequest{Id: id, Host: "host-b"})
	if req.MultiAttach {
		hosts = append(hosts, "host-b")
		if !c.Record("AttachVolume (second host)", err, volumeMismatch(v, req, false, hosts)) {
			return
		}
	} else if !c.RecordRefusal("AttachVolume (second host)", err,
		"AttachVolume: a single-attach volume was attached to a second host") {
		// A plain volume must be refused a second host by any server.
		return
	}
	allowed = c.Allows14()
	newSize := req.SizeMib + 1024
	v, err = fleet.Call(c.Client, vc.ResizeVolume, &volumepb.ResizeVolumeRequest{Id: id, SizeMib: newSize})
	switch {
	case c.Refused(allowed, err):
		c.Tally.Inc(fleet.NewMethodRefused)
	default:
		resized := proto.CloneOf(req)
		resized.SizeMib = newSize
		if !c.Record("ResizeVolume", err, volumeMismatch(v, resized, false, hosts)) {
			return
		}
		c.Tally.Inc(fleet.NewMethodOK)
		req = resized
	}
	mm, err := c.list(vc, owner, id, req, hosts)
	c.Record("ListVolumes", err, mm)
}

// list checks that ListVolumes streams exactly the one volume of owner.
func (c *loadClient) list(vc volumepb.VolumeServiceClient, owner, id string, req *volumepb.CreateVolumeRequest, hosts []string) (mismatch string, err error) {
	got, err := fleet.CallStream(c.Client, vc.ListVolumes, &volumepb.ListVolumesRequest{Owner: owner})
	if err != nil {
		return "", err
	}
	if len(got) != 1 || got[0].GetId() != id {
		return fmt.Sprintf("listed %d volumes, want exactly %s", len(got), id), nil
	}
	return volumeMismatch(got[0], req, false, hosts), nil
}

// readback reads a volume another instance created (a 1.3 server, gone
// since) and checks its size survived: through the fallback to size_gb,
// the backfill of size_mib and the contract dropping size_gb.
func readback(c *fleet.Client, cc *grpc.ClientConn, id string, mib int64) {
	v, err := fleet.Call(c, volumepb.NewVolumeServiceClient(cc).GetVolume, &volumepb.GetVolumeRequest{Id: id})
	mm := ""
	if err == nil && sizeOf(v) != mib {
		mm = fmt.Sprintf("volume %s created at 1.3: size %d MiB, want %d MiB", id, sizeOf(v), mib)
	}
	c.Record("GetVolume (readback)", err, mm)
}
