package compattest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/wellknownimports"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/compat"
)

// compileSet compiles .proto sources (path → text; they may import
// rollpin/v1/options.proto) and returns them as a descriptor set that went
// through the wire form, exactly as a `buf build` image reaches compat.
func compileSet(t testing.TB, srcs map[string]string) *descriptorpb.FileDescriptorSet {
	t.Helper()
	c := protocompile.Compiler{
		Resolver: wellknownimports.WithStandardImports(protocompile.CompositeResolver{
			&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(srcs)},
			&protocompile.SourceResolver{ImportPaths: []string{"../../proto"}},
		}),
	}
	var paths []string
	for p := range srcs {
		paths = append(paths, p)
	}
	files, err := c.Compile(context.Background(), paths...)
	if err != nil {
		t.Fatalf("compile fixture: %v", err)
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := 0; i < fd.Imports().Len(); i++ {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, f := range files {
		add(f)
	}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	out, err := compat.ParseImage(b)
	if err != nil {
		t.Fatalf("ParseImage: %v", err)
	}
	return out
}

// edit applies old→new replacements to src, failing when one does not match
// exactly once (so a fixture cannot silently stop testing its rule).
func edit(t testing.TB, src string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(src, pairs[i]); n != 1 {
			t.Fatalf("fixture edit %q matches %d times, want 1", pairs[i], n)
		}
		src = strings.Replace(src, pairs[i], pairs[i+1], 1)
	}
	return src
}

const volumePath = "acme/volume/v1/volume.proto"

// prevVolume is the previous release (track acme.volume.v1 at 1.3).
const prevVolume = `syntax = "proto3";
package acme.volume.v1;
import "rollpin/v1/options.proto";
option (rollpin.v1.api) = {version: "1.3"};

enum VolumeType {
  VOLUME_TYPE_UNSPECIFIED = 0;
  VOLUME_TYPE_HDD = 1;
  VOLUME_TYPE_SSD = 2 [(rollpin.v1.enum_value) = {since: "1.2", downgrade_to: "VOLUME_TYPE_HDD"}];
}

message CreateVolumeRequest {
  string name = 1;
  int64 size_gb = 2;
  bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "true"}];
  VolumeType type = 4;
  string legacy_zone = 5 [deprecated = true];
  oneof placement {
    string zone = 8;
  }
  map<string, VolumeType> tiers = 9;
}

message Snapshot {
  string id = 1;
}

message Volume {
  string id = 1;
  string name = 2;
  repeated Snapshot snapshots = 4;
}

message DeleteVolumeRequest { string id = 1; }
message DeleteVolumeResponse {}

service VolumeService {
  rpc Create(CreateVolumeRequest) returns (Volume);
  rpc Delete(DeleteVolumeRequest) returns (DeleteVolumeResponse) {
    option (rollpin.v1.method) = {since: "1.2"};
  }
}
`

// curVolume is the current release (1.4), correctly annotated: it adds a
// field, a message, an enum value and a method, and removes a field that was
// deprecated, reserving its number.
const curVolume = `syntax = "proto3";
package acme.volume.v1;
import "rollpin/v1/options.proto";
option (rollpin.v1.api) = {version: "1.4"};

enum VolumeType {
  VOLUME_TYPE_UNSPECIFIED = 0;
  VOLUME_TYPE_HDD = 1;
  VOLUME_TYPE_SSD = 2 [(rollpin.v1.enum_value) = {since: "1.2", downgrade_to: "VOLUME_TYPE_HDD"}];
  VOLUME_TYPE_NVME = 3 [(rollpin.v1.enum_value) = {since: "1.4", downgrade_to: "VOLUME_TYPE_SSD"}];
}

message Encryption {
  string key_id = 1 [(rollpin.v1.field) = {since: "1.4"}];
}

message CreateVolumeRequest {
  reserved 5;
  reserved "legacy_zone";
  string name = 1;
  int64 size_gb = 2;
  bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "true"}];
  VolumeType type = 4;
  Encryption encryption = 6 [(rollpin.v1.field) = {since: "1.4", on_downgrade: ON_DOWNGRADE_REJECT}];
  uint32 iops = 7 [(rollpin.v1.field) = {since: "1.4", default: "3000"}];
  oneof placement {
    string zone = 8;
    string rack = 10 [(rollpin.v1.field) = {since: "1.4"}];
  }
  map<string, VolumeType> tiers = 9;
}

message Snapshot {
  string id = 1;
  int64 bytes = 2 [(rollpin.v1.field) = {since: "1.4", default: "1"}];
}

message Volume {
  string id = 1;
  string name = 2;
  string pool = 3 [(rollpin.v1.field) = {since: "1.4", default: "default-pool"}];
  repeated Snapshot snapshots = 4;
}

message DeleteVolumeRequest { string id = 1; }
message DeleteVolumeResponse {}

message ResizeRequest {
  string id = 1 [(rollpin.v1.field) = {since: "1.4"}];
  int64 size_gb = 2 [(rollpin.v1.field) = {since: "1.4"}];
}

service VolumeService {
  rpc Create(CreateVolumeRequest) returns (Volume);
  rpc Delete(DeleteVolumeRequest) returns (DeleteVolumeResponse) {
    option (rollpin.v1.method) = {since: "1.2"};
  }
  rpc Resize(ResizeRequest) returns (Volume) {
    option (rollpin.v1.method) = {since: "1.4"};
  }
}
`

const (
	exampleV1 = "../../examples/volume/v1/volume.binpb"
	exampleV2 = "../../examples/volume/v2/volume.binpb"
)
