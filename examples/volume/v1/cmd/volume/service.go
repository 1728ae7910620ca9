package main

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/examples/volume/v1/volumepb"
)

// volumeService is the 1.3 VolumeService: volumes in a table in memory. A
// volume is attached to at most one host.
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

func (s *volumeService) CreateVolume(_ context.Context, req *volumepb.CreateVolumeRequest) (*volumepb.Volume, error) {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	v := &volumepb.Volume{
		Id:     fmt.Sprintf("%s-%d", s.instance, s.next),
		Name:   req.GetName(),
		SizeGb: req.GetSizeGb(),
		Type:   t,
		Owner:  req.GetOwner(),
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
	if len(v.AttachedHosts) > 0 {
		return nil, status.Errorf(codes.FailedPrecondition,
			"volume %q is attached to %s; detach it first", v.Id, v.AttachedHosts[0])
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
