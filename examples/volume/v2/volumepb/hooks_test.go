package volumepb_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/examples/volume/v2/volumepb"
)

var (
	at13 = backport.MustManifest(backport.Entry{Track: "acme.volume.v1", Version: backport.Version{Major: 1, Minor: 3}})
	at14 = backport.MustManifest(backport.Entry{Track: "acme.volume.v1", Version: backport.Version{Major: 1, Minor: 4}})
)

// TestDowngradeCreateVolumeRequest checks what a 1.3 server receives from a
// 1.4 client: the annotations and the size_mib hook together.
func TestDowngradeCreateVolumeRequest(t *testing.T) {
	tests := []struct {
		name string
		in   *volumepb.CreateVolumeRequest
		want *volumepb.CreateVolumeRequest
	}{
		{
			name: "size in MiB rounded up to GiB by the hook",
			in:   &volumepb.CreateVolumeRequest{Name: "a", SizeMib: 1536},
			want: &volumepb.CreateVolumeRequest{Name: "a", SizeGb: 2},
		},
		{
			name: "whole GiB stays exact",
			in:   &volumepb.CreateVolumeRequest{Name: "a", SizeMib: 2048},
			want: &volumepb.CreateVolumeRequest{Name: "a", SizeGb: 2},
		},
		{
			name: "NVMe sent as SSD",
			in:   &volumepb.CreateVolumeRequest{Name: "a", SizeGb: 3, Type: volumepb.VolumeType_VOLUME_TYPE_NVME},
			want: &volumepb.CreateVolumeRequest{Name: "a", SizeGb: 3, Type: volumepb.VolumeType_VOLUME_TYPE_SSD},
		},
		{
			name: "thin dropped: a 1.3 server makes every volume thin",
			in:   &volumepb.CreateVolumeRequest{Name: "a", SizeGb: 3, Thin: true},
			want: &volumepb.CreateVolumeRequest{Name: "a", SizeGb: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := proto.Clone(tt.in)
			got, err := backport.Downgrade(tt.in, at13)
			if err != nil {
				t.Fatalf("Downgrade(%v, 1.3) error: %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Downgrade(%v, 1.3) (-want +got):\n%s", tt.in, diff)
			}
			if !proto.Equal(in, tt.in) {
				t.Errorf("Downgrade modified its input: %v, was %v", tt.in, in)
			}
		})
	}
}

// TestDowngradeRejectsMultiAttach checks that a multi-attach request can
// never reach a 1.3 server, which would create a plain volume.
func TestDowngradeRejectsMultiAttach(t *testing.T) {
	_, err := backport.Downgrade(&volumepb.CreateVolumeRequest{Name: "a", SizeGb: 1, MultiAttach: true}, at13)
	var rej *backport.RejectError
	if !errors.As(err, &rej) {
		t.Fatalf("Downgrade(multi_attach, 1.3) error = %v, want a *backport.RejectError", err)
	}
	if rej.Path != "multi_attach" {
		t.Errorf("RejectError.Path = %q, want %q", rej.Path, "multi_attach")
	}
	if got, err := backport.Downgrade(&volumepb.CreateVolumeRequest{Name: "a", SizeGb: 1, MultiAttach: true}, at14); err != nil || !got.(*volumepb.CreateVolumeRequest).GetMultiAttach() {
		t.Errorf("Downgrade(multi_attach, 1.4) = %v, %v; want it unchanged", got, err)
	}
}

// TestDowngradeVolume checks the answer a 1.3 client gets from a 1.4
// server.
func TestDowngradeVolume(t *testing.T) {
	in := &volumepb.Volume{Id: "v", SizeMib: 5120, Type: volumepb.VolumeType_VOLUME_TYPE_NVME, Thin: true, MultiAttach: true}
	got, err := backport.Downgrade(in, at13)
	if err != nil {
		t.Fatalf("Downgrade(%v, 1.3) error: %v", in, err)
	}
	want := &volumepb.Volume{Id: "v", SizeGb: 5, Type: volumepb.VolumeType_VOLUME_TYPE_SSD}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Downgrade(%v, 1.3) (-want +got):\n%s", in, diff)
	}
}

// TestFillDefaultsFromOldSender checks what a 1.4 receiver makes of a
// message from a 1.3 sender: thin is true (every 1.3 volume was thin) and
// the size is known in MiB (the upgrade hook).
func TestFillDefaultsFromOldSender(t *testing.T) {
	for _, tt := range []struct {
		name      string
		msg, want proto.Message
	}{
		{"request", &volumepb.CreateVolumeRequest{Name: "a", SizeGb: 2},
			&volumepb.CreateVolumeRequest{Name: "a", SizeGb: 2, SizeMib: 2048, Thin: true}},
		{"volume", &volumepb.Volume{Id: "v", SizeGb: 3},
			&volumepb.Volume{Id: "v", SizeGb: 3, SizeMib: 3072, Thin: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := backport.FillDefaults(tt.msg, at13); err != nil {
				t.Fatalf("FillDefaults(1.3) error: %v", err)
			}
			if diff := cmp.Diff(tt.want, tt.msg, protocmp.Transform()); diff != "" {
				t.Errorf("FillDefaults(1.3) (-want +got):\n%s", diff)
			}
		})
	}
	// A 1.4 sender knew thin: false means thick and stays false.
	thick := &volumepb.CreateVolumeRequest{Name: "a", SizeMib: 100}
	if err := backport.FillDefaults(thick, at14); err != nil {
		t.Fatalf("FillDefaults(1.4) error: %v", err)
	}
	if thick.GetThin() {
		t.Errorf("FillDefaults(1.4) set thin on a request from a 1.4 sender")
	}
}
