package main

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/examples/internal/fleet"
	"github.com/rollpin/rollpin/examples/volume/v1/volumepb"
)

// volumeService is the 1.3 VolumeService: volumes in a table in memory. A
// volume is attached to at most one host. With a database (sizes), the
// size of each volume lives in the shared volumes table, column size_gb:
// CreateVolume writes it, GetVolume reads it.
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

func newVolumeService(instance string) *volumeService {
	return &volumeService{volumes: fleet.NewTable[*volumepb.Volume](instance)}
}

func (s *volumeService) CreateVolume(ctx context.Context, req *volumepb.CreateVolumeRequest) (*volumepb.Volume, error) {
	if req.GetSizeGb() <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "size_gb must be positive, got %d", req.GetSizeGb())
	}
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	t := req.GetType()
	switch t {
	case volumepb.VolumeType_VOLUME_TYPE_UNSPECIFIED:
		t = volumepb.VolumeType_VOLUME_TYPE_HDD
	case volumepb.VolumeType_VOLUME_TYPE_HDD, volumepb.VolumeType_VOLUME_TYPE_SSD:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown volume type %d", t)
	}
	v := s.volumes.Insert(func(id string) *volumepb.Volume {
		return &volumepb.Volume{
			Id:     id,
			Name:   req.GetName(),
			SizeGb: req.GetSizeGb(),
			Type:   t,
			Owner:  req.GetOwner(),
		}
	})
	if s.sizes != nil {
		if err := s.sizes.Put(ctx, v.GetId(), v.GetName(), v.GetSizeGb()*1024); err != nil {
			return nil, status.Errorf(codes.Unavailable, "store volume %q: %v", v.GetId(), err)
		}
	}
	return v, nil
}

func (s *volumeService) GetVolume(ctx context.Context, req *volumepb.GetVolumeRequest) (*volumepb.Volume, error) {
	v, err := s.volumes.Get(req.GetId())
	if err != nil || s.sizes == nil {
		return v, err
	}
	_, mib, ok, err := s.sizes.Get(ctx, v.GetId())
	switch {
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "read volume %q: %v", v.GetId(), err)
	case !ok:
		return nil, status.Errorf(codes.DataLoss, "volume %q has no row in the volumes table", v.GetId())
	}
	v.SizeGb = mib / 1024
	return v, nil
}

func (s *volumeService) AttachVolume(_ context.Context, req *volumepb.AttachVolumeRequest) (*volumepb.Volume, error) {
	if req.GetHost() == "" {
		return nil, status.Error(codes.InvalidArgument, "host is required")
	}
	return s.volumes.Update(req.GetId(), func(v *volumepb.Volume) error {
		if len(v.AttachedHosts) > 0 {
			return status.Errorf(codes.FailedPrecondition,
				"volume %q is attached to %s; detach it first", v.Id, v.AttachedHosts[0])
		}
		v.AttachedHosts = append(v.AttachedHosts, req.GetHost())
		return nil
	})
}

func (s *volumeService) ListVolumes(req *volumepb.ListVolumesRequest, stream volumepb.VolumeService_ListVolumesServer) error {
	return s.volumes.SendOwned(req.GetOwner(), stream.Send)
}
