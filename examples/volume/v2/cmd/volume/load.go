package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
	"github.com/rollpin/rollpin/interceptor"
)

// loadClient runs sequences of calls as a 1.4 client and checks every
// answer against what it asked. Like an application written for a rolling
// upgrade, it asks for a thick volume (thin=false, a field a 1.3 server
// would drop) only when the cap of the service is 1.4; multi-attach volumes
// and ResizeVolume it just tries, and counts the FAILED_PRECONDITION
// refusals the interceptors give while the cap is 1.3.
type loadClient struct {
	id    string
	pins  interceptor.PinSource
	tally *fleet.Tally
}

// callTimeout bounds one call; calls wait for a ready connection.
const callTimeout = 15 * time.Second

func (c *loadClient) worker(ctx context.Context, slots *fleet.Slots, n int, pause time.Duration) {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(n)))
	for seq := 0; ctx.Err() == nil; seq++ {
		cc, release, err := slots.Acquire(r)
		if err != nil {
			sleep(ctx, 20*time.Millisecond)
			continue
		}
		c.sequence(volumepb.NewVolumeServiceClient(cc), r, fmt.Sprintf("%s-w%d-%d", c.id, n, seq))
		release()
		sleep(ctx, pause)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// callCtx is the parent of every call: not the workers' context, so that a
// client told to stop finishes its sequences; main cancels it a few seconds
// after the stop, so that a client whose servers are gone does not linger.
var callCtx = context.Background()

// call runs one call with its own timeout, under callCtx.
func call[Req, Resp any](fn func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	ctx, cancel := context.WithTimeout(callCtx, callTimeout)
	defer cancel()
	return fn(ctx, req, grpc.WaitForReady(true))
}

// allows14 reports whether the current cap of the service lets 1.4 features
// through.
func (c *loadClient) allows14() bool { return fleet.Allows14(c.pins.Cap(fleet.Service)) }

// record classifies one call: err != nil is a failure; a non-empty mismatch
// means the answer lost meaning. It reports whether the call was OK.
func (c *loadClient) record(method string, err error, mismatch string) bool {
	c.tally.Inc(fleet.Calls)
	switch {
	case err != nil:
		c.tally.Fail(fleet.Failed, fmt.Sprintf("%s: %v", method, err))
		return false
	case mismatch != "":
		c.tally.Fail(fleet.Lost, fmt.Sprintf("%s: %s", method, mismatch))
		return false
	}
	c.tally.Inc(fleet.OK)
	return true
}

// refused records a call refused with FAILED_PRECONDITION while the cap was
// below 1.4 (as designed). It reports whether err was such a refusal.
func (c *loadClient) refused(allowed bool, err error) bool {
	if allowed || status.Code(err) != codes.FailedPrecondition {
		return false
	}
	c.tally.Inc(fleet.Calls)
	c.tally.Inc(fleet.Refused)
	return true
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
	allowed := c.allows14()
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
	v, err := call(vc.CreateVolume, req)
	if req.MultiAttach && c.refused(allowed, err) {
		c.tally.Inc(fleet.MultiAttachRefused)
		return
	}
	if !c.record("CreateVolume", err, volumeMismatch(v, req, !allowed, nil)) {
		return
	}
	if req.MultiAttach {
		c.tally.Inc(fleet.MultiAttachOK)
	}
	if req.Type == volumepb.VolumeType_VOLUME_TYPE_NVME {
		if v.GetType() == volumepb.VolumeType_VOLUME_TYPE_NVME {
			c.tally.Inc(fleet.NVMeOK)
		} else {
			c.tally.Inc(fleet.NVMeDowngraded)
		}
	}
	// From here on the volume as created is the reference.
	req.Type, req.SizeMib, req.SizeGb = v.GetType(), sizeOf(v), 0
	id := v.GetId()
	v, err = call(vc.GetVolume, &volumepb.GetVolumeRequest{Id: id})
	if !c.record("GetVolume", err, volumeMismatch(v, req, false, nil)) {
		return
	}
	v, err = call(vc.AttachVolume, &volumepb.AttachVolumeRequest{Id: id, Host: "host-a"})
	if !c.record("AttachVolume", err, volumeMismatch(v, req, false, []string{"host-a"})) {
		return
	}
	hosts := []string{"host-a"}
	v, err = call(vc.AttachVolume, &volumepb.AttachVolumeRequest{Id: id, Host: "host-b"})
	if req.MultiAttach {
		hosts = append(hosts, "host-b")
		if !c.record("AttachVolume (second host)", err, volumeMismatch(v, req, false, hosts)) {
			return
		}
	} else {
		// A plain volume must be refused a second host by any server.
		c.tally.Inc(fleet.Calls)
		switch status.Code(err) {
		case codes.FailedPrecondition:
			c.tally.Inc(fleet.OK)
		case codes.OK:
			c.tally.Fail(fleet.Lost, "AttachVolume: a single-attach volume was attached to a second host")
			return
		default:
			c.tally.Fail(fleet.Failed, fmt.Sprintf("AttachVolume (second host): %v", err))
			return
		}
	}
	allowed = c.allows14()
	newSize := req.SizeMib + 1024
	v, err = call(vc.ResizeVolume, &volumepb.ResizeVolumeRequest{Id: id, SizeMib: newSize})
	switch {
	case c.refused(allowed, err):
		c.tally.Inc(fleet.NewMethodRefused)
	default:
		resized := proto.CloneOf(req)
		resized.SizeMib = newSize
		if !c.record("ResizeVolume", err, volumeMismatch(v, resized, false, hosts)) {
			return
		}
		c.tally.Inc(fleet.NewMethodOK)
		req = resized
	}
	mm, err := c.list(vc, owner, id, req, hosts)
	c.record("ListVolumes", err, mm)
}

// list checks that ListVolumes streams exactly the one volume of owner.
func (c *loadClient) list(vc volumepb.VolumeServiceClient, owner, id string, req *volumepb.CreateVolumeRequest, hosts []string) (mismatch string, err error) {
	ctx, cancel := context.WithTimeout(callCtx, callTimeout)
	defer cancel()
	st, err := vc.ListVolumes(ctx, &volumepb.ListVolumesRequest{Owner: owner}, grpc.WaitForReady(true))
	if err != nil {
		return "", err
	}
	var got []*volumepb.Volume
	for {
		v, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		got = append(got, v)
	}
	if len(got) != 1 || got[0].GetId() != id {
		return fmt.Sprintf("listed %d volumes, want exactly %s", len(got), id), nil
	}
	return volumeMismatch(got[0], req, false, hosts), nil
}
