package main

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
)

// Outcomes of a features probe.
const (
	featureOK         = "ok"
	featureRefused    = "refused"    // FAILED_PRECONDITION: the cap is below 1.4
	featureDowngraded = "downgraded" // sent as the closest 1.3 value
	featureWithheld   = "withheld"   // not asked: the cap is below 1.4
)

// probe tries each 1.4 feature once on one server slot and returns the
// outcome of each ("ok", "refused", "downgraded" or "withheld"). Unexpected
// errors and answers that lost meaning are counted in c.Tally as Failed and
// Lost; a refusal while the cap allows 1.4 is a failure.
func (c *loadClient) probe(slots *fleet.Slots) (map[string]string, error) {
	r := rand.New(rand.NewPCG(1, 2))
	cc, release, err := slots.Acquire(r)
	if err != nil {
		return nil, err
	}
	defer release()
	vc := volumepb.NewVolumeServiceClient(cc)
	out := map[string]string{}
	allowed := c.Allows14()

	// NVMe, an exact size in MiB and (under a 1.4 cap) a thick volume.
	req := &volumepb.CreateVolumeRequest{
		Name: "probe-nvme", Owner: c.ID + "-probe", Type: volumepb.VolumeType_VOLUME_TYPE_NVME,
		SizeMib: 1536, Thin: !allowed,
	}
	v, err := fleet.Call(c.Client, vc.CreateVolume, req)
	if !c.Record("CreateVolume (NVMe, 1536 MiB)", err, volumeMismatch(v, req, !allowed, nil)) {
		return out, nil
	}
	out["nvme"] = featureOK
	if v.GetType() != volumepb.VolumeType_VOLUME_TYPE_NVME {
		out["nvme"] = featureDowngraded
	}
	out["size_mib"] = featureOK
	if sizeOf(v) != req.GetSizeMib() {
		out["size_mib"] = featureDowngraded
	}
	out["thick"] = featureWithheld
	if !req.GetThin() {
		out["thick"] = featureOK
	}

	// ResizeVolume, a 1.4 method.
	allowed = c.Allows14()
	rv, err := fleet.Call(c.Client, vc.ResizeVolume, &volumepb.ResizeVolumeRequest{Id: v.GetId(), SizeMib: 4096})
	switch {
	case c.Refused(allowed, err):
		out["resize"] = featureRefused
	case c.Record("ResizeVolume", err, sizeMismatch(rv, 4096)):
		out["resize"] = featureOK
	}

	// A multi-attach volume attached to two hosts.
	allowed = c.Allows14()
	mreq := &volumepb.CreateVolumeRequest{
		Name: "probe-multi", Owner: c.ID + "-probe", Type: volumepb.VolumeType_VOLUME_TYPE_SSD,
		SizeGb: 1, Thin: true, MultiAttach: true,
	}
	mv, err := fleet.Call(c.Client, vc.CreateVolume, mreq)
	switch {
	case c.Refused(allowed, err):
		out["multi_attach"] = featureRefused
	case c.Record("CreateVolume (multi-attach)", err, volumeMismatch(mv, mreq, !allowed, nil)):
		hosts := []string{"host-a", "host-b"}
		var av *volumepb.Volume
		for _, h := range hosts {
			if av, err = fleet.Call(c.Client, vc.AttachVolume, &volumepb.AttachVolumeRequest{Id: mv.GetId(), Host: h}); err != nil {
				break
			}
		}
		mm := ""
		if err == nil && !slices.Equal(av.GetAttachedHosts(), hosts) {
			mm = fmt.Sprintf("attached to %v, want %v", av.GetAttachedHosts(), hosts)
		}
		if c.Record("AttachVolume (multi-attach, two hosts)", err, mm) {
			out["multi_attach"] = featureOK
		}
	}
	return out, nil
}

func sizeMismatch(v *volumepb.Volume, want int64) string {
	if got := sizeOf(v); got != want {
		return fmt.Sprintf("size %d MiB, asked %d MiB", got, want)
	}
	return ""
}
