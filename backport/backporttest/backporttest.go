// Package backporttest holds the test API of the backport engine (generated in
// typespb, svcpb and plainpb) and builders of realistic messages, for the
// tests and benchmarks of backport and of the packages built on it (such as
// the interceptors). It is meant for tests only: importing it links the test
// API's descriptors into the binary.
//
// The API has two tracks: rollpin.testpb.svc.v1 at 1.4 imports the shared
// rollpin.testpb.types.v1 at 2.3; rollpin.testpb.plain.v1 is unversioned.
//
// # Benchmark request
//
// NewBenchRequest returns a ~1 KB svcpb.Volume: a dozen scalars, a nested
// Spec, 5 repeated Items and a 5-entry map. At BenchCapText exactly three of its
// fields are newer than the cap: zone (top level), spec.note (nested) and
// tag in every item.
//
//	req := backporttest.NewBenchRequest()
//	cap, _ := backport.ParseManifest(backporttest.BenchCapText)
//	out, err := backport.Downgrade(req, cap)
package backporttest

import (
	"fmt"

	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
	"github.com/rollpin/rollpin/backport/backporttest/typespb"
)

// Track names and current versions of the test API.
const (
	SvcTrack   = "rollpin.testpb.svc.v1"
	TypesTrack = "rollpin.testpb.types.v1"
)

// BenchCapText is the cap at which NewBenchRequest has three fields to clear.
const BenchCapText = "rollpin.testpb.svc.v1=1.3,rollpin.testpb.types.v1=2.3"

// NewBenchRequest returns a new ~1 KB request (see the package doc).
func NewBenchRequest() *svcpb.Volume {
	v := &svcpb.Volume{
		Name:      "pvc-3f6c2a4e-9b1d-4c7e-8a55-2d0e6b7f9c11",
		SizeGb:    512,
		Thin:      true,
		Zone:      "eu-west-3b",
		Owner:     "team-storage-platform@example.com",
		Project:   "projects/acme-production-eu/volumes",
		Priority:  7,
		CreatedAt: 1_763_769_600_000,
		Ratio:     0.875,
		Score:     42.5,
		Checksum:  []byte("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
		Delta:     -12345,
		Flags:     0x5a5a,
		Readonly:  false,
		Kind:      svcpb.Kind_KIND_SSD,
		Spec: &svcpb.Spec{
			SizeGb:   512,
			Thin:     true,
			Kind:     svcpb.Kind_KIND_SSD,
			Quota:    &typespb.Quota{Bytes: 1 << 40, Iops: 20000, Color: typespb.Color_COLOR_GREEN},
			Note:     "provisioned by the nightly rebalancer after the storage pool migration",
			Replicas: 3,
		},
		Source: &svcpb.Volume_SnapshotId{SnapshotId: "snap-0a1b2c3d4e5f60718-orders-db-nightly-2026-11-21"},
		Legacy: "",
	}
	for i := range 5 {
		v.Items = append(v.Items, &svcpb.Item{
			Name:   fmt.Sprintf("replica-%d.storage-node-%02d.eu-west-3b", i, 10+i),
			Count:  int32(100 + i),
			Tag:    fmt.Sprintf("rack-%c%d", 'a'+i, i),
			Color:  typespb.Color_COLOR_RED,
			Weight: 0.2 * float64(i+1),
		})
	}
	v.Attributes = map[string]string{
		"app.kubernetes.io/name":      "orders-db-primary-volume-claim",
		"app.kubernetes.io/component": "primary",
		"backup.acme.io/schedule":     "0 3 * * *",
		"cost-center":                 "cc-4821/storage-platform/orders-primary-eu",
		"topology.kubernetes.io/zone": "eu-west-3b",
	}
	return v
}
