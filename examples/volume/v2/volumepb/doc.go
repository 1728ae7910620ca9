// Package volumepb is the generated code of the example volume service at
// API 1.4 (proto package acme.volume.v1, proto/acme/volume/v1/volume.proto
// next to this directory), plus, in hooks.go, the hand-written hooks of its
// ON_DOWNGRADE_CUSTOM field size_mib. Importing the package registers them
// with backport, as the generated code registers the descriptors.
//
// Compared with 1.3 the API adds, each with an annotation:
//
//   - CreateVolumeRequest.thin / Volume.thin, since 1.4 with default "true":
//     before 1.4 every volume was thin, so a 1.3 sender means true;
//   - CreateVolumeRequest.multi_attach, since 1.4, ON_DOWNGRADE_REJECT: a
//     1.3 server would create a plain volume, so the request is refused;
//   - VOLUME_TYPE_NVME, since 1.4, downgrade_to VOLUME_TYPE_SSD;
//   - size_mib, since 1.4, ON_DOWNGRADE_CUSTOM: FoldSizeMiB rounds it up
//     into size_gb for a 1.3 peer, UnfoldSizeGB does the reverse;
//   - ResizeVolume, a method since 1.4.
//
// # Regenerating
//
// From examples/volume/v2:
//
//	go tool -modfile=../../../tools/go.mod buf generate
//	go tool -modfile=../../../tools/go.mod buf build proto -o volume.binpb
package volumepb
