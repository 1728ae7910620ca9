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

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v1/volumepb"
)

// loadClient runs sequences of calls as a 1.3 client and checks every
// answer against what it asked.
type loadClient struct {
	id    string
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
	v, err := call(vc.CreateVolume, req)
	if !c.record("CreateVolume", err, volumeMismatch(v, req, nil)) {
		return
	}
	id := v.GetId()
	v, err = call(vc.GetVolume, &volumepb.GetVolumeRequest{Id: id})
	if !c.record("GetVolume", err, volumeMismatch(v, req, nil)) {
		return
	}
	v, err = call(vc.AttachVolume, &volumepb.AttachVolumeRequest{Id: id, Host: "host-a"})
	if !c.record("AttachVolume", err, volumeMismatch(v, req, []string{"host-a"})) {
		return
	}
	// A 1.3 volume is attached to one host at most: a second attach must be
	// refused by the server, whatever its version.
	_, err = call(vc.AttachVolume, &volumepb.AttachVolumeRequest{Id: id, Host: "host-b"})
	c.tally.Inc(fleet.Calls)
	switch status.Code(err) {
	case codes.FailedPrecondition:
		c.tally.Inc(fleet.OK)
	case codes.OK:
		c.tally.Fail(fleet.Lost, "AttachVolume: a single-attach volume was attached to a second host")
	default:
		c.tally.Fail(fleet.Failed, fmt.Sprintf("AttachVolume (second host): %v", err))
	}
	mm, err := c.list(vc, owner, id, req)
	c.record("ListVolumes", err, mm)
}

// list checks that ListVolumes streams exactly the one volume of owner.
func (c *loadClient) list(vc volumepb.VolumeServiceClient, owner, id string, req *volumepb.CreateVolumeRequest) (mismatch string, err error) {
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
	return volumeMismatch(got[0], req, []string{"host-a"}), nil
}
