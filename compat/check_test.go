package compat_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/compat"
)

// got is the part of a finding the table compares.
type got struct {
	File    string
	Element protoreflect.FullName
	Rule    compat.Rule
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// prev and cur are the sources of the two releases; prev defaults
		// to prevVolume and cur is curVolume after the edits in curEdits.
		prev     map[string]string
		curEdits []string
		extra    map[string]string // extra current files
		want     []got
	}{
		{name: "clean"},
		{
			name:     "added field without since",
			curEdits: []string{`Encryption encryption = 6 [(rollpin.v1.field) = {since: "1.4", on_downgrade: ON_DOWNGRADE_REJECT}];`, `Encryption encryption = 6;`},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.encryption", compat.RuleSinceMissing}},
		},
		{
			// Only the new field leading to it needs a since.
			name:     "field of a new message without since is fine",
			curEdits: []string{`string key_id = 1 [(rollpin.v1.field) = {since: "1.4"}];`, `string key_id = 1;`},
		},
		{
			name:     "field of a new message with an old since",
			curEdits: []string{`string key_id = 1 [(rollpin.v1.field) = {since: "1.4"}];`, `string key_id = 1 [(rollpin.v1.field) = {since: "1.1"}];`},
			want:     []got{{volumePath, "acme.volume.v1.Encryption.key_id", compat.RuleSinceNotNew}},
		},
		{
			name: "method of a new service without since",
			extra: map[string]string{"acme/volume/v1/snapshot.proto": `syntax = "proto3";
package acme.volume.v1;
import "acme/volume/v1/volume.proto";
service SnapshotService {
  rpc Snapshot(DeleteVolumeRequest) returns (Volume);
}
`},
			want: []got{{"acme/volume/v1/snapshot.proto", "acme.volume.v1.SnapshotService.Snapshot", compat.RuleSinceMissing}},
		},
		{
			name:     "added enum value without since",
			curEdits: []string{`VOLUME_TYPE_NVME = 3 [(rollpin.v1.enum_value) = {since: "1.4", downgrade_to: "VOLUME_TYPE_SSD"}];`, `VOLUME_TYPE_NVME = 3;`},
			want:     []got{{volumePath, "acme.volume.v1.VOLUME_TYPE_NVME", compat.RuleSinceMissing}},
		},
		{
			name: "added method without since",
			curEdits: []string{`rpc Resize(ResizeRequest) returns (Volume) {
    option (rollpin.v1.method) = {since: "1.4"};
  }`, `rpc Resize(ResizeRequest) returns (Volume);`},
			want: []got{{volumePath, "acme.volume.v1.VolumeService.Resize", compat.RuleSinceMissing}},
		},
		{
			name:     "since not above the previous version",
			curEdits: []string{`uint32 iops = 7 [(rollpin.v1.field) = {since: "1.4", default: "3000"}];`, `uint32 iops = 7 [(rollpin.v1.field) = {since: "1.3", default: "3000"}];`},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.iops", compat.RuleSinceNotNew}},
		},
		{
			name:     "since above the current version",
			curEdits: []string{`uint32 iops = 7 [(rollpin.v1.field) = {since: "1.4", default: "3000"}];`, `uint32 iops = 7 [(rollpin.v1.field) = {since: "1.5", default: "3000"}];`},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.iops", compat.RuleSinceAboveAPI}},
		},
		{
			name:     "since does not parse",
			curEdits: []string{`uint32 iops = 7 [(rollpin.v1.field) = {since: "1.4", default: "3000"}];`, `uint32 iops = 7 [(rollpin.v1.field) = {since: "v1.4", default: "3000"}];`},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.iops", compat.RuleBadVersion}},
		},
		{
			name:     "track version went backwards",
			prev:     map[string]string{volumePath: strings.Replace(prevVolume, `{version: "1.3"}`, `{version: "1.5"}`, 1)},
			curEdits: nil,
			want:     []got{{volumePath, "acme.volume.v1", compat.RuleAPIBackwards}},
		},
		{
			name: "track version did not rise although a field was added",
			// cur is prev plus one field, version unchanged.
			prev: map[string]string{volumePath: prevVolume},
			want: []got{{volumePath, "acme.volume.v1", compat.RuleAPINotRaised}},
		},
		{
			name:     "since of an existing element changed",
			curEdits: []string{`bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "true"}];`, `bool thin = 3 [(rollpin.v1.field) = {since: "1.2", default: "true"}];`},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.thin", compat.RuleSinceChanged}},
		},
		{
			name:     "field removed without deprecation",
			curEdits: []string{"  VolumeType type = 4;\n", ""},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.type", compat.RuleRemoved}},
		},
		{
			name:     "deprecated field removed without reserving its number",
			curEdits: []string{"  reserved 5;\n", ""},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.legacy_zone", compat.RuleNotReserved}},
		},
		{
			name: "method removed without deprecation",
			curEdits: []string{`  rpc Delete(DeleteVolumeRequest) returns (DeleteVolumeResponse) {
    option (rollpin.v1.method) = {since: "1.2"};
  }
`, ""},
			want: []got{{volumePath, "acme.volume.v1.VolumeService.Delete", compat.RuleRemoved}},
		},
		{
			name:     "field renumbered",
			curEdits: []string{"string name = 1;\n  int64", "string name = 11;\n  int64"},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.name", compat.RuleRenumbered}},
		},
		{
			name:     "field retyped",
			curEdits: []string{"int64 size_gb = 2;\n  bool", "int32 size_gb = 2;\n  bool"},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.size_gb", compat.RuleRetyped}},
		},
		{
			name:     "method request type changed",
			curEdits: []string{"rpc Create(CreateVolumeRequest) returns (Volume);", "rpc Create(DeleteVolumeRequest) returns (Volume);"},
			want:     []got{{volumePath, "acme.volume.v1.VolumeService.Create", compat.RuleMethodType}},
		},
		{
			name:     "method response type changed",
			curEdits: []string{"rpc Create(CreateVolumeRequest) returns (Volume);", "rpc Create(CreateVolumeRequest) returns (DeleteVolumeResponse);"},
			want:     []got{{volumePath, "acme.volume.v1.VolumeService.Create", compat.RuleMethodType}},
		},
		{
			name:     "default does not parse",
			curEdits: []string{`{since: "1.4", default: "3000"}`, `{since: "1.4", default: "many"}`},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.iops", compat.RuleBadDefault}},
		},
		{
			name:     "downgrade_to names nothing",
			curEdits: []string{`downgrade_to: "VOLUME_TYPE_SSD"`, `downgrade_to: "VOLUME_TYPE_FAST"`},
			want:     []got{{volumePath, "acme.volume.v1.VOLUME_TYPE_NVME", compat.RuleBadDowngradeTo}},
		},
		{
			name:     "downgrade_to names a value that is not older",
			curEdits: []string{`VOLUME_TYPE_SSD = 2 [(rollpin.v1.enum_value) = {since: "1.2", downgrade_to: "VOLUME_TYPE_HDD"}];`, `VOLUME_TYPE_SSD = 2 [(rollpin.v1.enum_value) = {since: "1.2", downgrade_to: "VOLUME_TYPE_NVME"}];`},
			want:     []got{{volumePath, "acme.volume.v1.VOLUME_TYPE_SSD", compat.RuleBadDowngradeTo}},
		},
		{
			name: "default on a field without since",
			curEdits: []string{"string name = 2;\n  string pool", `string name = 2 [(rollpin.v1.field) = {default: "unnamed"}];
  string pool`},
			want: []got{{volumePath, "acme.volume.v1.Volume.name", compat.RuleBadDefault}},
		},
		{
			// The engine refuses the message: lint must too.
			name: "on_downgrade on a field without since",
			curEdits: []string{"string name = 2;\n  string pool", `string name = 2 [(rollpin.v1.field) = {on_downgrade: ON_DOWNGRADE_REJECT}];
  string pool`},
			want: []got{{volumePath, "acme.volume.v1.Volume.name", compat.Rule("ROLLPIN_ON_DOWNGRADE_VALID")}},
		},
		{
			name:     "downgrade_to on an enum value without since",
			curEdits: []string{`VOLUME_TYPE_HDD = 1;`, `VOLUME_TYPE_HDD = 1 [(rollpin.v1.enum_value) = {downgrade_to: "VOLUME_TYPE_UNSPECIFIED"}];`},
			want:     []got{{volumePath, "acme.volume.v1.VOLUME_TYPE_HDD", compat.RuleBadDowngradeTo}},
		},
		{
			name:     "message default in text format",
			curEdits: []string{`{since: "1.4", on_downgrade: ON_DOWNGRADE_REJECT}`, `{since: "1.4", on_downgrade: ON_DOWNGRADE_REJECT, default: "key_id: 'k1'"}`},
		},
		{
			name:     "message default that is not text format",
			curEdits: []string{`{since: "1.4", on_downgrade: ON_DOWNGRADE_REJECT}`, `{since: "1.4", on_downgrade: ON_DOWNGRADE_REJECT, default: "key: 'k1'"}`},
			want:     []got{{volumePath, "acme.volume.v1.CreateVolumeRequest.encryption", compat.RuleBadDefault}},
		},
		{
			name: "files of a package disagree on the version",
			extra: map[string]string{"acme/volume/v1/types.proto": `syntax = "proto3";
package acme.volume.v1;
import "rollpin/v1/options.proto";
option (rollpin.v1.api) = {version: "1.3"};
message Empty {}
`},
			want: []got{{"acme/volume/v1/types.proto", "acme.volume.v1", compat.RuleAPIMismatch}},
		},
		{
			name: "since in a package without a version",
			extra: map[string]string{"acme/common/v1/money.proto": `syntax = "proto3";
package acme.common.v1;
import "rollpin/v1/options.proto";
message Money { int64 units = 1 [(rollpin.v1.field) = {since: "1.0"}]; }
`},
			want: []got{{"acme/common/v1/money.proto", "acme.common.v1.Money.units", compat.RuleSinceWithoutAPI}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prevSrc := tt.prev
			if prevSrc == nil {
				prevSrc = map[string]string{volumePath: prevVolume}
			}
			cur := edit(t, curVolume, tt.curEdits...)
			if tt.name == "track version did not rise although a field was added" {
				cur = edit(t, prevVolume, "  string legacy_zone = 5 [deprecated = true];\n",
					"  string legacy_zone = 5 [deprecated = true];\n  string region = 6;\n")
			}
			curSrc := map[string]string{volumePath: cur}
			for p, s := range tt.extra {
				curSrc[p] = s
			}
			findings, err := compat.Check(compileSet(t, prevSrc), compileSet(t, curSrc))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			var gotF []got
			for _, f := range findings {
				gotF = append(gotF, got{f.File, f.Element, f.Rule})
				if f.Message == "" || f.Fix == "" {
					t.Errorf("finding %v lacks a message or a fix", f)
				}
			}
			if diff := cmp.Diff(tt.want, gotF); diff != "" {
				t.Errorf("Check findings (-want +got):\n%s\nall findings:\n%s", diff, render(findings))
			}
		})
	}
}

func render(fs []compat.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func TestCheckFirstRelease(t *testing.T) {
	t.Parallel()
	// No previous release: only the rules about the schema alone apply, so
	// nothing is "added" and a bad default is still found.
	cur := compileSet(t, map[string]string{volumePath: edit(t, curVolume, `default: "3000"`, `default: "-1"`)})
	findings, err := compat.Check(nil, cur)
	if err != nil {
		t.Fatalf("Check(nil, cur): %v", err)
	}
	if len(findings) != 1 || findings[0].Rule != compat.RuleBadDefault || findings[0].Element != "acme.volume.v1.CreateVolumeRequest.iops" {
		t.Errorf("Check(nil, cur) = %s; want one %s on iops", render(findings), compat.RuleBadDefault)
	}
}
