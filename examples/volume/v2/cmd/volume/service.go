package main

import (
	"context"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
)

// volumeService is the 1.4 VolumeService: volumes in a table in memory,
// sized in MiB, thin or thick, NVMe, optionally attachable to several hosts.
type volumeService struct {
	volumepb.UnimplementedVolumeServiceServer
	volumes *fleet.Table[*volumepb.Volume]
}

// register registers a volume service of instance id on s.
func register(s *grpc.Server, id string) {
	volumepb.RegisterVolumeServiceServer(s, newVolumeService(id))
}

func newVolumeService(instance string) *volumeService {
	return &volumeService{volumes: fleet.NewTable[*volumepb.Volume](instance)}
}

// sizeMiB is the size a request asks for: size_mib, or size_gb from a sender
// that did not set it.
func sizeMiB(req *volumepb.CreateVolumeRequest) int64 {
	if req.GetSizeMib() > 0 {
		return req.GetSizeMib()
	}
	return req.GetSizeGb() * 1024
}

func (s *volumeService) CreateVolume(_ context.Context, req *volumepb.CreateVolumeRequest) (*volumepb.Volume, error) {
	size := sizeMiB(req)
	if size <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "size must be positive: set size_mib (or size_gb)")
	}
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	t := req.GetType()
	switch t {
	case volumepb.VolumeType_VOLUME_TYPE_UNSPECIFIED:
		t = volumepb.VolumeType_VOLUME_TYPE_HDD
	case volumepb.VolumeType_VOLUME_TYPE_HDD, volumepb.VolumeType_VOLUME_TYPE_SSD, volumepb.VolumeType_VOLUME_TYPE_NVME:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown volume type %d", t)
	}
	return s.volumes.Insert(func(id string) *volumepb.Volume {
		return &volumepb.Volume{
			Id:          id,
			Name:        req.GetName(),
			SizeMib:     size,
			Type:        t,
			Owner:       req.GetOwner(),
			Thin:        req.GetThin(),
			MultiAttach: req.GetMultiAttach(),
		}
	}), nil
}

func (s *volumeService) GetVolume(_ context.Context, req *volumepb.GetVolumeRequest) (*volumepb.Volume, error) {
	return s.volumes.Get(req.GetId())
}

func (s *volumeService) AttachVolume(_ context.Context, req *volumepb.AttachVolumeRequest) (*volumepb.Volume, error) {
	if req.GetHost() == "" {
		return nil, status.Error(codes.InvalidArgument, "host is required")
	}
	return s.volumes.Update(req.GetId(), func(v *volumepb.Volume) error {
		if slices.Contains(v.AttachedHosts, req.GetHost()) {
			return nil
		}
		if len(v.AttachedHosts) > 0 && !v.MultiAttach {
			return status.Errorf(codes.FailedPrecondition,
				"volume %q is attached to %s and is not multi-attach; detach it first", v.Id, v.AttachedHosts[0])
		}
		v.AttachedHosts = append(v.AttachedHosts, req.GetHost())
		return nil
	})
}

func (s *volumeService) ListVolumes(req *volumepb.ListVolumesRequest, stream volumepb.VolumeService_ListVolumesServer) error {
	return s.volumes.SendOwned(req.GetOwner(), stream.Send)
}

func (s *volumeService) ResizeVolume(_ context.Context, req *volumepb.ResizeVolumeRequest) (*volumepb.Volume, error) {
	return s.volumes.Update(req.GetId(), func(v *volumepb.Volume) error {
		if req.GetSizeMib() < v.SizeMib {
			return status.Errorf(codes.InvalidArgument,
				"volume %q is %d MiB: a volume only grows, ask for at least that", v.Id, v.SizeMib)
		}
		v.SizeMib = req.GetSizeMib()
		return nil
	})
}
