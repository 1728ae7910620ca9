package main

import (
	"context"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
)

// volumeService is the 1.4 VolumeService: volumes in a table in memory,
// sized in MiB, thin or thick, NVMe, optionally attachable to several hosts.
//
// With a database (sizes), the size of each volume lives in the shared
// volumes table: CreateVolume and ResizeVolume write size_mib and, while
// the column exists, size_gb (1.3 servers still read it); GetVolume reads
// size_mib, or size_gb*1024 for a row a 1.3 server wrote that the backfill
// has not reached yet. GetVolume of a volume another instance created
// answers from the table: its name and size (the table holds nothing more).
type volumeService struct {
	volumepb.UnimplementedVolumeServiceServer
	volumes *fleet.Table[*volumepb.Volume]
	sizes   *fleet.Sizes // nil: sizes in memory only
}

// register registers a volume service of instance id on s.
func register(s *grpc.Server, id string, sizes *fleet.Sizes, _ bool) {
	vs := newVolumeService(id)
	vs.sizes = sizes
	volumepb.RegisterVolumeServiceServer(s, vs)
}

// store writes v's size to the table, if there is one.
func (s *volumeService) store(ctx context.Context, v *volumepb.Volume) error {
	if s.sizes == nil {
		return nil
	}
	if err := s.sizes.Put(ctx, v.GetId(), v.GetName(), v.GetSizeMib()); err != nil {
		return status.Errorf(codes.Unavailable, "store volume %q: %v", v.GetId(), err)
	}
	return nil
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

func (s *volumeService) CreateVolume(ctx context.Context, req *volumepb.CreateVolumeRequest) (*volumepb.Volume, error) {
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
	v := s.volumes.Insert(func(id string) *volumepb.Volume {
		return &volumepb.Volume{
			Id:          id,
			Name:        req.GetName(),
			SizeMib:     size,
			Type:        t,
			Owner:       req.GetOwner(),
			Thin:        req.GetThin(),
			MultiAttach: req.GetMultiAttach(),
		}
	})
	if err := s.store(ctx, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (s *volumeService) GetVolume(ctx context.Context, req *volumepb.GetVolumeRequest) (*volumepb.Volume, error) {
	v, err := s.volumes.Get(req.GetId())
	if s.sizes == nil || (err != nil && status.Code(err) != codes.NotFound) {
		return v, err
	}
	name, mib, ok, dbErr := s.sizes.Get(ctx, req.GetId())
	switch {
	case dbErr != nil:
		return nil, status.Errorf(codes.Unavailable, "read volume %q: %v", req.GetId(), dbErr)
	case !ok && err != nil:
		return nil, err
	case !ok:
		return nil, status.Errorf(codes.DataLoss, "volume %q has no row in the volumes table", req.GetId())
	case err != nil: // created by another instance: what the table knows
		return &volumepb.Volume{Id: req.GetId(), Name: name, SizeMib: mib}, nil
	}
	v.SizeMib = mib
	return v, nil
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

func (s *volumeService) ResizeVolume(ctx context.Context, req *volumepb.ResizeVolumeRequest) (*volumepb.Volume, error) {
	return s.volumes.Update(req.GetId(), func(v *volumepb.Volume) error {
		if req.GetSizeMib() < v.SizeMib {
			return status.Errorf(codes.InvalidArgument,
				"volume %q is %d MiB: a volume only grows, ask for at least that", v.Id, v.SizeMib)
		}
		grown := proto.CloneOf(v)
		grown.SizeMib = req.GetSizeMib()
		if err := s.store(ctx, grown); err != nil {
			return err // the row stays as it was
		}
		v.SizeMib = grown.SizeMib
		return nil
	})
}
