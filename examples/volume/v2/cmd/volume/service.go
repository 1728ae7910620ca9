package main

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
)

// volumeService is the 1.4 VolumeService: volumes in a table in memory,
// sized in MiB, thin or thick, NVMe, optionally attachable to several hosts.
type volumeService struct {
	volumepb.UnimplementedVolumeServiceServer
	instance string

	mu      sync.Mutex
	next    int
	volumes map[string]*volumepb.Volume
}

func newVolumeService(instance string) *volumeService {
	return &volumeService{instance: instance, volumes: map[string]*volumepb.Volume{}}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	v := &volumepb.Volume{
		Id:          fmt.Sprintf("%s-%d", s.instance, s.next),
		Name:        req.GetName(),
		SizeMib:     size,
		Type:        t,
		Owner:       req.GetOwner(),
		Thin:        req.GetThin(),
		MultiAttach: req.GetMultiAttach(),
	}
	s.volumes[v.Id] = v
	return proto.Clone(v).(*volumepb.Volume), nil
}

func (s *volumeService) GetVolume(_ context.Context, req *volumepb.GetVolumeRequest) (*volumepb.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no volume %q", req.GetId())
	}
	return proto.Clone(v).(*volumepb.Volume), nil
}

func (s *volumeService) AttachVolume(_ context.Context, req *volumepb.AttachVolumeRequest) (*volumepb.Volume, error) {
	if req.GetHost() == "" {
		return nil, status.Error(codes.InvalidArgument, "host is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no volume %q", req.GetId())
	}
	if slices.Contains(v.AttachedHosts, req.GetHost()) {
		return proto.Clone(v).(*volumepb.Volume), nil
	}
	if len(v.AttachedHosts) > 0 && !v.MultiAttach {
		return nil, status.Errorf(codes.FailedPrecondition,
			"volume %q is attached to %s and is not multi-attach; detach it first", v.Id, v.AttachedHosts[0])
	}
	v.AttachedHosts = append(v.AttachedHosts, req.GetHost())
	return proto.Clone(v).(*volumepb.Volume), nil
}

func (s *volumeService) ListVolumes(req *volumepb.ListVolumesRequest, stream volumepb.VolumeService_ListVolumesServer) error {
	s.mu.Lock()
	var out []*volumepb.Volume
	for _, v := range s.volumes {
		if v.GetOwner() == req.GetOwner() {
			out = append(out, proto.Clone(v).(*volumepb.Volume))
		}
	}
	s.mu.Unlock()
	for _, v := range out {
		if err := stream.Send(v); err != nil {
			return err
		}
	}
	return nil
}

func (s *volumeService) ResizeVolume(_ context.Context, req *volumepb.ResizeVolumeRequest) (*volumepb.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no volume %q", req.GetId())
	}
	if req.GetSizeMib() < v.SizeMib {
		return nil, status.Errorf(codes.InvalidArgument,
			"volume %q is %d MiB: a volume only grows, ask for at least that", v.Id, v.SizeMib)
	}
	v.SizeMib = req.GetSizeMib()
	return proto.Clone(v).(*volumepb.Volume), nil
}
