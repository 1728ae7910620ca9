package compat_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/compat"
)

// corpusCase is one API evolution: the previous release is prevVolume after
// prevEdits (plus prevExtra files), the current one curVolume after
// curEdits (plus curExtra). A mistake names the rule that must catch it and
// the element it is reported on; a correct change names none and must pass
// clean.
type corpusCase struct {
	name                string
	prevEdits, curEdits []string
	prevExtra, curExtra map[string]string
	rule                string
	element             string
	replace             string // a whole-source scenario, when set
}

const snapshotPath = "acme/volume/v1/snapshot.proto"

// corpus is the API-evolution corpus: realistic mistakes and realistic
// correct changes.
var corpus = []corpusCase{
	// Mistakes.
	{name: "field added without since", curEdits: []string{`Encryption encryption = 6 [(rollpin.v1.field) = {since: "1.4", on_downgrade: ON_DOWNGRADE_REJECT}];`, `Encryption encryption = 6;`},
		rule: "ROLLPIN_SINCE_PRESENT", element: "acme.volume.v1.CreateVolumeRequest.encryption"},
	{name: "oneof member added without since", curEdits: []string{`string rack = 10 [(rollpin.v1.field) = {since: "1.4"}];`, `string rack = 10;`},
		rule: "ROLLPIN_SINCE_PRESENT", element: "acme.volume.v1.CreateVolumeRequest.rack"},
	{name: "enum value added without since", curEdits: []string{`VOLUME_TYPE_NVME = 3 [(rollpin.v1.enum_value) = {since: "1.4", downgrade_to: "VOLUME_TYPE_SSD"}];`, `VOLUME_TYPE_NVME = 3;`},
		rule: "ROLLPIN_SINCE_PRESENT", element: "acme.volume.v1.VOLUME_TYPE_NVME"},
	{name: "method added without since", curEdits: []string{"rpc Resize(ResizeRequest) returns (Volume) {\n    option (rollpin.v1.method) = {since: \"1.4\"};\n  }", "rpc Resize(ResizeRequest) returns (Volume);"},
		rule: "ROLLPIN_SINCE_PRESENT", element: "acme.volume.v1.VolumeService.Resize"},
	{name: "since not above the previous release", curEdits: []string{`{since: "1.4", default: "3000"}`, `{since: "1.3", default: "3000"}`},
		rule: "ROLLPIN_SINCE_ABOVE_PREVIOUS", element: "acme.volume.v1.CreateVolumeRequest.iops"},
	{name: "since above the api version", curEdits: []string{`{since: "1.4", default: "3000"}`, `{since: "1.5", default: "3000"}`},
		rule: "ROLLPIN_SINCE_NOT_ABOVE_API", element: "acme.volume.v1.CreateVolumeRequest.iops"},
	{name: "since not MAJOR.MINOR", curEdits: []string{`{since: "1.4", default: "3000"}`, `{since: "1.4.0", default: "3000"}`},
		rule: "ROLLPIN_VERSION_SYNTAX", element: "acme.volume.v1.CreateVolumeRequest.iops"},
	{name: "api version not MAJOR.MINOR", curEdits: []string{`{version: "1.4"}`, `{version: "v1.4"}`},
		rule: "ROLLPIN_VERSION_SYNTAX", element: "acme.volume.v1"},
	{name: "api version went back", prevEdits: []string{`{version: "1.3"}`, `{version: "1.5"}`},
		rule: "ROLLPIN_API_VERSION_NOT_BACKWARDS", element: "acme.volume.v1"},
	{name: "api version not raised", replace: "prev+region",
		rule: "ROLLPIN_API_VERSION_RAISED", element: "acme.volume.v1"},
	{name: "since of an existing field changed", curEdits: []string{`bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "true"}];`, `bool thin = 3 [(rollpin.v1.field) = {since: "1.2", default: "true"}];`},
		rule: "ROLLPIN_SINCE_UNCHANGED", element: "acme.volume.v1.CreateVolumeRequest.thin"},
	{name: "since of an existing method dropped", curEdits: []string{"rpc Delete(DeleteVolumeRequest) returns (DeleteVolumeResponse) {\n    option (rollpin.v1.method) = {since: \"1.2\"};\n  }", "rpc Delete(DeleteVolumeRequest) returns (DeleteVolumeResponse);"},
		rule: "ROLLPIN_SINCE_UNCHANGED", element: "acme.volume.v1.VolumeService.Delete"},
	{name: "field removed without deprecation", curEdits: []string{"  VolumeType type = 4;\n", ""},
		rule: "ROLLPIN_REMOVE_ONLY_DEPRECATED", element: "acme.volume.v1.CreateVolumeRequest.type"},
	{name: "deprecated field removed, number not reserved", curEdits: []string{"  reserved 5;\n", ""},
		rule: "ROLLPIN_REMOVED_NUMBER_RESERVED", element: "acme.volume.v1.CreateVolumeRequest.legacy_zone"},
	{name: "method removed without deprecation", curEdits: []string{"  rpc Delete(DeleteVolumeRequest) returns (DeleteVolumeResponse) {\n    option (rollpin.v1.method) = {since: \"1.2\"};\n  }\n", ""},
		rule: "ROLLPIN_REMOVE_ONLY_DEPRECATED", element: "acme.volume.v1.VolumeService.Delete"},
	{name: "enum value removed without deprecation", curEdits: []string{"  VOLUME_TYPE_HDD = 1;\n", "", `downgrade_to: "VOLUME_TYPE_HDD"`, `downgrade_to: "VOLUME_TYPE_UNSPECIFIED"`},
		rule: "ROLLPIN_REMOVE_ONLY_DEPRECATED", element: "acme.volume.v1.VOLUME_TYPE_HDD"},
	{name: "message removed without deprecation", prevExtra: map[string]string{"acme/volume/v1/legacy.proto": "syntax = \"proto3\";\npackage acme.volume.v1;\nmessage Legacy { string id = 1; }\n"},
		rule: "ROLLPIN_REMOVE_ONLY_DEPRECATED", element: "acme.volume.v1.Legacy"},
	{name: "field renumbered", curEdits: []string{"string name = 1;\n  int64", "string name = 11;\n  int64"},
		rule: "ROLLPIN_NUMBER_UNCHANGED", element: "acme.volume.v1.CreateVolumeRequest.name"},
	{name: "enum value renumbered", curEdits: []string{"VOLUME_TYPE_HDD = 1;", "VOLUME_TYPE_HDD = 5;"},
		rule: "ROLLPIN_NUMBER_UNCHANGED", element: "acme.volume.v1.VOLUME_TYPE_HDD"},
	{name: "field type changed", curEdits: []string{"int64 size_gb = 2;\n  bool", "int32 size_gb = 2;\n  bool"},
		rule: "ROLLPIN_FIELD_TYPE_UNCHANGED", element: "acme.volume.v1.CreateVolumeRequest.size_gb"},
	{name: "repeated field made singular", curEdits: []string{"repeated Snapshot snapshots = 4;", "Snapshot snapshots = 4;"},
		rule: "ROLLPIN_FIELD_TYPE_UNCHANGED", element: "acme.volume.v1.Volume.snapshots"},
	{name: "map value type changed", curEdits: []string{"map<string, VolumeType> tiers = 9;", "map<string, string> tiers = 9;"},
		rule: "ROLLPIN_FIELD_TYPE_UNCHANGED", element: "acme.volume.v1.CreateVolumeRequest.tiers"},
	{name: "method request type changed", curEdits: []string{"rpc Create(CreateVolumeRequest) returns (Volume);", "rpc Create(DeleteVolumeRequest) returns (Volume);"},
		rule: "ROLLPIN_METHOD_TYPE_UNCHANGED", element: "acme.volume.v1.VolumeService.Create"},
	{name: "method made streaming", curEdits: []string{"rpc Create(CreateVolumeRequest) returns (Volume);", "rpc Create(CreateVolumeRequest) returns (stream Volume);"},
		rule: "ROLLPIN_METHOD_TYPE_UNCHANGED", element: "acme.volume.v1.VolumeService.Create"},
	{name: "default does not parse", curEdits: []string{`{since: "1.4", default: "3000"}`, `{since: "1.4", default: "3k"}`},
		rule: "ROLLPIN_DEFAULT_VALID", element: "acme.volume.v1.CreateVolumeRequest.iops"},
	{name: "negative default on an unsigned field", curEdits: []string{`{since: "1.4", default: "3000"}`, `{since: "1.4", default: "-1"}`},
		rule: "ROLLPIN_DEFAULT_VALID", element: "acme.volume.v1.CreateVolumeRequest.iops"},
	{name: "default on a field without since", curEdits: []string{"string name = 2;\n  string pool", "string name = 2 [(rollpin.v1.field) = {default: \"unnamed\"}];\n  string pool"},
		rule: "ROLLPIN_DEFAULT_VALID", element: "acme.volume.v1.Volume.name"},
	{name: "message default not in text format", curEdits: []string{`{since: "1.4", on_downgrade: ON_DOWNGRADE_REJECT}`, `{since: "1.4", on_downgrade: ON_DOWNGRADE_REJECT, default: "key: 'k1'"}`},
		rule: "ROLLPIN_DEFAULT_VALID", element: "acme.volume.v1.CreateVolumeRequest.encryption"},
	{name: "default on a repeated field", curEdits: []string{"repeated Snapshot snapshots = 4;", "repeated Snapshot snapshots = 4;\n  repeated string tags = 5 [(rollpin.v1.field) = {since: \"1.4\", default: \"a\"}];"},
		rule: "ROLLPIN_DEFAULT_VALID", element: "acme.volume.v1.Volume.tags"},
	{name: "float default out of range", curEdits: []string{"repeated Snapshot snapshots = 4;", "repeated Snapshot snapshots = 4;\n  float ratio = 5 [(rollpin.v1.field) = {since: \"1.4\", default: \"1e39\"}];"},
		rule: "ROLLPIN_DEFAULT_VALID", element: "acme.volume.v1.Volume.ratio"},
	{name: "downgrade_to names nothing", curEdits: []string{`downgrade_to: "VOLUME_TYPE_SSD"`, `downgrade_to: "VOLUME_TYPE_FAST"`},
		rule: "ROLLPIN_DOWNGRADE_TO_VALID", element: "acme.volume.v1.VOLUME_TYPE_NVME"},
	{name: "downgrade_to names a newer value", curEdits: []string{`since: "1.2", downgrade_to: "VOLUME_TYPE_HDD"`, `since: "1.2", downgrade_to: "VOLUME_TYPE_NVME"`},
		rule: "ROLLPIN_DOWNGRADE_TO_VALID", element: "acme.volume.v1.VOLUME_TYPE_SSD"},
	{name: "downgrade_to names the value itself", curEdits: []string{`downgrade_to: "VOLUME_TYPE_SSD"`, `downgrade_to: "VOLUME_TYPE_NVME"`},
		rule: "ROLLPIN_DOWNGRADE_TO_VALID", element: "acme.volume.v1.VOLUME_TYPE_NVME"},
	{name: "files of a package disagree on the version", curExtra: map[string]string{"acme/volume/v1/types.proto": "syntax = \"proto3\";\npackage acme.volume.v1;\nimport \"rollpin/v1/options.proto\";\noption (rollpin.v1.api) = {version: \"1.3\"};\nmessage Empty {}\n"},
		rule: "ROLLPIN_API_VERSION_AGREE", element: "acme.volume.v1"},
	{name: "since in a package without a version", curExtra: map[string]string{"acme/common/v1/money.proto": "syntax = \"proto3\";\npackage acme.common.v1;\nimport \"rollpin/v1/options.proto\";\nmessage Money { int64 units = 1 [(rollpin.v1.field) = {since: \"1.0\"}]; }\n"},
		rule: "ROLLPIN_SINCE_NEEDS_API", element: "acme.common.v1.Money.units"},
	// Issue 13.3.
	{name: "on_downgrade on a field without since", curEdits: []string{"string name = 2;\n  string pool", "string name = 2 [(rollpin.v1.field) = {on_downgrade: ON_DOWNGRADE_REJECT}];\n  string pool"},
		rule: "ROLLPIN_ON_DOWNGRADE_VALID", element: "acme.volume.v1.Volume.name"},
	{name: "downgrade_to on a value without since", curEdits: []string{"VOLUME_TYPE_HDD = 1;", "VOLUME_TYPE_HDD = 1 [(rollpin.v1.enum_value) = {downgrade_to: \"VOLUME_TYPE_UNSPECIFIED\"}];"},
		rule: "ROLLPIN_DOWNGRADE_TO_VALID", element: "acme.volume.v1.VOLUME_TYPE_HDD"},
	// Issue 13.4.
	{name: "removed field's number reused by a new field", curEdits: []string{"  reserved 5;\n  reserved \"legacy_zone\";\n", "  string promo_code = 5;\n"},
		rule: "ROLLPIN_FIELD_NUMBER_NOT_REUSED", element: "acme.volume.v1.CreateVolumeRequest.promo_code"},
	{name: "removed field's number reused with a since", curEdits: []string{"  reserved 5;\n  reserved \"legacy_zone\";\n", "  string promo_code = 5 [(rollpin.v1.field) = {since: \"1.4\"}];\n"},
		rule: "ROLLPIN_FIELD_NUMBER_NOT_REUSED", element: "acme.volume.v1.CreateVolumeRequest.promo_code"},
	// Issue 13.5.
	{name: "api declaration dropped while adding a field", replace: "drop-api",
		rule: "ROLLPIN_API_VERSION_KEPT", element: "acme.volume.v1"},
	// Issue 13.6.
	{name: "default changed", curEdits: []string{`bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "true"}];`, `bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "false"}];`},
		rule: "ROLLPIN_DEFAULT_UNCHANGED", element: "acme.volume.v1.CreateVolumeRequest.thin"},
	{name: "default removed", curEdits: []string{`bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "true"}];`, `bool thin = 3 [(rollpin.v1.field) = {since: "1.3"}];`},
		rule: "ROLLPIN_DEFAULT_UNCHANGED", element: "acme.volume.v1.CreateVolumeRequest.thin"},
	{name: "message default changed", prevEdits: []string{"message CreateVolumeRequest {", "message Zone { string name = 1; int32 rank = 2; }\n\nmessage CreateVolumeRequest {", "  VolumeType type = 4;\n", "  VolumeType type = 4;\n  Zone home = 20 [(rollpin.v1.field) = {since: \"1.3\", default: \"name: 'a' rank: 1\"}];\n"},
		curEdits: []string{"message CreateVolumeRequest {", "message Zone { string name = 1; int32 rank = 2; }\n\nmessage CreateVolumeRequest {", "  VolumeType type = 4;\n", "  VolumeType type = 4;\n  Zone home = 20 [(rollpin.v1.field) = {since: \"1.3\", default: \"name: 'a' rank: 2\"}];\n"},
		rule:     "ROLLPIN_DEFAULT_UNCHANGED", element: "acme.volume.v1.CreateVolumeRequest.home"},
	// Issue 13.7.
	{name: "new field's since in the old major", curEdits: []string{`{version: "1.4"}`, `{version: "2.0"}`, `{since: "1.4", default: "3000"}`, `{since: "2.0", default: "3000"}`,
		`{since: "1.4", default: "1"}`, `{since: "2.0", default: "1"}`, `{since: "1.4", default: "default-pool"}`, `{since: "2.0", default: "default-pool"}`,
		`since: "1.4", downgrade_to: "VOLUME_TYPE_SSD"`, `since: "2.0", downgrade_to: "VOLUME_TYPE_SSD"`, `{since: "1.4", on_downgrade: ON_DOWNGRADE_REJECT}`, `{since: "2.0", on_downgrade: ON_DOWNGRADE_REJECT}`,
		"option (rollpin.v1.method) = {since: \"1.4\"};", "option (rollpin.v1.method) = {since: \"2.0\"};"},
		rule: "ROLLPIN_SINCE_IN_CURRENT_MAJOR", element: "acme.volume.v1.CreateVolumeRequest.rack"},
	// Issue 13.8: wire and JSON breaks.
	{name: "field moved into a oneof", curEdits: []string{"  int64 size_gb = 2;\n", "", "  oneof placement {\n    string zone = 8;", "  oneof placement {\n    string zone = 8;\n    int64 size_gb = 2;"},
		rule: "ROLLPIN_FIELD_SAME_ONEOF", element: "acme.volume.v1.CreateVolumeRequest.size_gb"},
	{name: "field moved out of a oneof", curEdits: []string{"  oneof placement {\n    string zone = 8;", "  string zone = 8;\n  oneof placement {"},
		rule: "ROLLPIN_FIELD_SAME_ONEOF", element: "acme.volume.v1.CreateVolumeRequest.zone"},
	{name: "json_name changed", curEdits: []string{"int64 size_gb = 2;\n  bool", "int64 size_gb = 2 [json_name = \"sizeGiB\"];\n  bool"},
		rule: "ROLLPIN_FIELD_SAME_JSON_NAME", element: "acme.volume.v1.CreateVolumeRequest.size_gb"},
	{name: "field renamed", curEdits: []string{"int64 size_gb = 2;\n  bool", "int64 capacity_gb = 2;\n  bool"},
		rule: "ROLLPIN_FIELD_NUMBER_NOT_REUSED", element: "acme.volume.v1.CreateVolumeRequest.capacity_gb"},
	{name: "enum value renamed", curEdits: []string{"VOLUME_TYPE_HDD = 1;", "VOLUME_TYPE_DISK = 1;", `downgrade_to: "VOLUME_TYPE_HDD"`, `downgrade_to: "VOLUME_TYPE_DISK"`},
		rule: "ROLLPIN_ENUM_VALUE_SAME_NAME", element: "acme.volume.v1.VOLUME_TYPE_DISK"},

	// Correct changes.
	{name: "release 1.4 as annotated"},
	{name: "message moved to another file of the package", curEdits: []string{"message Snapshot {\n  string id = 1;\n  int64 bytes = 2 [(rollpin.v1.field) = {since: \"1.4\", default: \"1\"}];\n}\n", "", "import \"rollpin/v1/options.proto\";", "import \"rollpin/v1/options.proto\";\nimport \"acme/volume/v1/snapshot.proto\";"},
		curExtra: map[string]string{snapshotPath: "syntax = \"proto3\";\npackage acme.volume.v1;\nimport \"rollpin/v1/options.proto\";\nmessage Snapshot {\n  string id = 1;\n  int64 bytes = 2 [(rollpin.v1.field) = {since: \"1.4\", default: \"1\"}];\n}\n"}},
	{name: "field deprecated", curEdits: []string{"int64 size_gb = 2;\n  bool", "int64 size_gb = 2 [deprecated = true];\n  bool"}},
	{name: "method deprecated", curEdits: []string{"rpc Create(CreateVolumeRequest) returns (Volume);", "rpc Create(CreateVolumeRequest) returns (Volume) { option deprecated = true; }"}},
	{name: "deprecated method removed", prevEdits: []string{"option (rollpin.v1.method) = {since: \"1.2\"};", "option (rollpin.v1.method) = {since: \"1.2\"};\n    option deprecated = true;"},
		curEdits: []string{"  rpc Delete(DeleteVolumeRequest) returns (DeleteVolumeResponse) {\n    option (rollpin.v1.method) = {since: \"1.2\"};\n  }\n", ""}},
	{name: "deprecated enum value removed and reserved", prevEdits: []string{"VOLUME_TYPE_HDD = 1;", "VOLUME_TYPE_HDD = 1 [deprecated = true];"},
		curEdits: []string{"  VOLUME_TYPE_HDD = 1;\n", "  reserved 1;\n  reserved \"VOLUME_TYPE_HDD\";\n", `downgrade_to: "VOLUME_TYPE_HDD"`, `downgrade_to: "VOLUME_TYPE_UNSPECIFIED"`}},
	{name: "enum value alias added for a rename", curEdits: []string{"VOLUME_TYPE_HDD = 1;", "option allow_alias = true;\n  VOLUME_TYPE_HDD = 1;\n  VOLUME_TYPE_DISK = 1;"}},
	{name: "explicit json_name equal to the default", curEdits: []string{"int64 size_gb = 2;\n  bool", "int64 size_gb = 2 [json_name = \"sizeGb\"];\n  bool"}},
	{name: "fields reordered in the source", curEdits: []string{"  string name = 1;\n  int64 size_gb = 2;\n", "  int64 size_gb = 2;\n  string name = 1;\n"}},
	{name: "new message whose fields have no since", curEdits: []string{"message DeleteVolumeRequest", "message Quota { int64 bytes = 1; string owner = 2; }\n\nmessage DeleteVolumeRequest"}},
	{name: "new enum whose values have no since", curEdits: []string{"message DeleteVolumeRequest", "enum Tier { TIER_UNSPECIFIED = 0; TIER_GOLD = 1; }\n\nmessage DeleteVolumeRequest"}},
	{name: "optional field added with since", curEdits: []string{"repeated Snapshot snapshots = 4;", "repeated Snapshot snapshots = 4;\n  optional int64 quota = 5 [(rollpin.v1.field) = {since: \"1.4\"}];"}},
	{name: "double field with an infinite default", curEdits: []string{"repeated Snapshot snapshots = 4;", "repeated Snapshot snapshots = 4;\n  double ceiling = 5 [(rollpin.v1.field) = {since: \"1.4\", default: \"INF\"}];"}},
	{name: "new package without a version", curExtra: map[string]string{"acme/common/v1/money.proto": "syntax = \"proto3\";\npackage acme.common.v1;\nmessage Money { int64 units = 1; }\n"}},
	{name: "new versioned package", curExtra: map[string]string{"acme/billing/v1/bill.proto": "syntax = \"proto3\";\npackage acme.billing.v1;\nimport \"rollpin/v1/options.proto\";\noption (rollpin.v1.api) = {version: \"1.0\"};\nmessage Bill { int64 cents = 1; }\n"}},
	{name: "downgrade_to of an existing value changed", curEdits: []string{`since: "1.2", downgrade_to: "VOLUME_TYPE_HDD"`, `since: "1.2", downgrade_to: "VOLUME_TYPE_UNSPECIFIED"`}},
	{name: "default written differently, same value", prevEdits: []string{`bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "true"}];`, `bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "true"}];
  double ratio = 6 [(rollpin.v1.field) = {since: "1.3", default: "1.50"}];`},
		curEdits: []string{"Encryption encryption = 6", "Encryption encryption = 11", `bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "true"}];`, `bool thin = 3 [(rollpin.v1.field) = {since: "1.3", default: "true"}];
  double ratio = 6 [(rollpin.v1.field) = {since: "1.3", default: "1.5"}];`}},
	{name: "major version raised with elements at the new major", replace: "major-2.0"},
	{name: "api version raised with nothing added", replace: "raise-only"},
	{name: "field given explicit presence", curEdits: []string{"int64 size_gb = 2;\n  bool", "optional int64 size_gb = 2;\n  bool"}},
	{name: "enum value deprecated", curEdits: []string{"VOLUME_TYPE_HDD = 1;", "VOLUME_TYPE_HDD = 1 [deprecated = true];"}},
	{name: "comments and a reserved range added", curEdits: []string{"message DeleteVolumeRequest { string id = 1; }", "// DeleteVolumeRequest names the volume.\nmessage DeleteVolumeRequest {\n  // id of the volume.\n  string id = 1;\n  reserved 100 to 199;\n}"}},
	{name: "new oneof whose members have since", curEdits: []string{"repeated Snapshot snapshots = 4;", "repeated Snapshot snapshots = 4;\n  oneof source {\n    string image = 5 [(rollpin.v1.field) = {since: \"1.4\"}];\n    string clone_of = 6 [(rollpin.v1.field) = {since: \"1.4\"}];\n  }"}},
	{name: "message default equal in another spelling", prevEdits: []string{"message CreateVolumeRequest {", "message Zone { string name = 1; int32 rank = 2; }\n\nmessage CreateVolumeRequest {", "  VolumeType type = 4;\n", "  VolumeType type = 4;\n  Zone home = 20 [(rollpin.v1.field) = {since: \"1.3\", default: \"name: 'a' rank: 1\"}];\n"},
		curEdits: []string{"message CreateVolumeRequest {", "message Zone { string name = 1; int32 rank = 2; }\n\nmessage CreateVolumeRequest {", "  VolumeType type = 4;\n", "  VolumeType type = 4;\n  Zone home = 20 [(rollpin.v1.field) = {since: \"1.3\", default: \"rank: 1, name: \\\"a\\\"\"}];\n"}},
	{name: "oneof member added with since", curEdits: []string{`string rack = 10 [(rollpin.v1.field) = {since: "1.4"}];`, "string rack = 10 [(rollpin.v1.field) = {since: \"1.4\"}];\n    string host = 12 [(rollpin.v1.field) = {since: \"1.4\"}];"}},
}

// sources builds the two releases of c.
func (c corpusCase) sources(t *testing.T) (prev, cur map[string]string) {
	prevSrc := edit(t, prevVolume, c.prevEdits...)
	curSrc := edit(t, curVolume, c.curEdits...)
	switch c.replace {
	case "prev+region":
		curSrc = edit(t, prevVolume, "  string legacy_zone = 5 [deprecated = true];\n", "  string legacy_zone = 5 [deprecated = true];\n  string region = 6;\n")
	case "drop-api":
		curSrc = edit(t, prevVolume, "option (rollpin.v1.api) = {version: \"1.3\"};\n", "", "  string legacy_zone = 5 [deprecated = true];\n", "  string legacy_zone = 5 [deprecated = true];\n  string region = 6;\n")
	case "raise-only":
		curSrc = edit(t, prevVolume, `{version: "1.3"}`, `{version: "1.4"}`)
	case "major-2.0":
		curSrc = edit(t, prevVolume, `{version: "1.3"}`, `{version: "2.0"}`, "  string legacy_zone = 5 [deprecated = true];\n",
			"  string legacy_zone = 5 [deprecated = true];\n  string region = 6 [(rollpin.v1.field) = {since: \"2.0\"}];\n")
	}
	prev = map[string]string{volumePath: prevSrc}
	cur = map[string]string{volumePath: curSrc}
	for p, s := range c.prevExtra {
		prev[p] = s
	}
	for p, s := range c.curExtra {
		cur[p] = s
	}
	return prev, cur
}

// TestCorpus runs the corpus through Check: every mistake is reported by its
// rule on its element, and no correct change is reported at all.
func TestCorpus(t *testing.T) {
	t.Parallel()
	var mistakes, caught, correct, falsePositives int
	var table strings.Builder
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			prev, cur := c.sources(t)
			findings, err := compat.Check(compileSet(t, prev), compileSet(t, cur))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if c.rule == "" {
				correct++
				// A correct change passes the checks, and the engine
				// compiles every message of it.
				files, err := compat.NewFiles(compileSet(t, cur))
				if err != nil {
					t.Fatal(err)
				}
				engine := backport.New(backport.WithFiles(files))
				var refused []string
				files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
					for i := 0; i < fd.Messages().Len(); i++ {
						if err := engine.CheckMessage(fd.Messages().Get(i)); err != nil {
							refused = append(refused, err.Error())
						}
					}
					return true
				})
				if len(findings) > 0 || len(refused) > 0 {
					falsePositives++
					t.Errorf("correct change reported:\n%s\nor refused by the engine: %v", render(findings), refused)
				}
				fmt.Fprintf(&table, "correct  %-55s findings=%d\n", c.name, len(findings))
				return
			}
			mistakes++
			hit := false
			for _, f := range findings {
				if string(f.Rule) == c.rule && string(f.Element) == c.element {
					hit = true
				}
			}
			if hit {
				caught++
			} else {
				t.Errorf("mistake not reported as %s on %s; findings:\n%s", c.rule, c.element, render(findings))
			}
			fmt.Fprintf(&table, "mistake  %-55s caught=%v\n", c.name, hit)
		})
	}
	t.Logf("corpus: %d/%d mistakes caught, %d/%d correct changes reported or refused\n%s", caught, mistakes, falsePositives, correct, table.String())
}
