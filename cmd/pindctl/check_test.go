package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/wellknownimports"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// The example service's 1.3 and 1.4 releases, as buf images.
const (
	volumeV1Image = "../../examples/volume/v1/volume.binpb"
	volumeV2Image = "../../examples/volume/v2/volume.binpb"
)

func runCheck(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"check"}, args...), streams{Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestCheckCompatibleRelease(t *testing.T) {
	t.Parallel()
	code, out, errs := runCheck(t, "--against", volumeV1Image, volumeV2Image)
	if code != exitOK {
		t.Fatalf("check v1 → v2 exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, exitOK, out, errs)
	}
	if !strings.Contains(out, "no compatibility rule broken") {
		t.Errorf("check v1 → v2 stdout = %q, want it to say no rule is broken", out)
	}
}

func TestCheckIncompatibleRelease(t *testing.T) {
	t.Parallel()
	// Going from 1.4 back to 1.3: the version goes back and 1.4's fields
	// disappear without deprecation.
	code, out, errs := runCheck(t, "--against", volumeV2Image, volumeV1Image)
	if code != exitFailed {
		t.Fatalf("check v2 → v1 exit %d, want %d; stdout:\n%s", code, exitFailed, out)
	}
	for _, want := range []string{"ROLLPIN_API_VERSION_NOT_BACKWARDS", "ROLLPIN_REMOVE_ONLY_DEPRECATED", "acme.volume.v1.Volume.thin", "fix: "} {
		if !strings.Contains(out, want) {
			t.Errorf("check v2 → v1 stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "rule(s) broken") {
		t.Errorf("check v2 → v1 stderr = %q, want the count of broken rules", errs)
	}

	code, out, _ = runCheck(t, "-o", "json", "--against", volumeV2Image, volumeV1Image)
	if code != exitFailed {
		t.Fatalf("check -o json exit %d, want %d", code, exitFailed)
	}
	var parsed struct {
		Findings []findingOutput `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &parsed); err != nil {
		t.Fatalf("check -o json output does not parse: %v\n%s", err, out)
	}
	found := false
	for _, f := range parsed.Findings {
		if f.Rule == "ROLLPIN_API_VERSION_NOT_BACKWARDS" && f.Element == "acme.volume.v1" && f.Fix != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("check -o json findings lack the backwards version of acme.volume.v1: %+v", parsed.Findings)
	}
}

func TestCheckLintOnly(t *testing.T) {
	t.Parallel()
	code, out, _ := runCheck(t, volumeV2Image)
	if code != exitOK {
		t.Fatalf("check (lint only) exit %d, want %d:\n%s", code, exitOK, out)
	}
}

func TestCheckUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"a", "b"}} {
		if code, _, _ := runCheck(t, args...); code != exitUsage {
			t.Errorf("check %q exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, errs := runCheck(t, "--against", "does-not-exist.binpb", volumeV2Image); code != exitFailed || !strings.Contains(errs, "previous release") {
		t.Errorf("check with a missing --against file: exit %d, stderr %q; want %d and a hint", code, errs, exitFailed)
	}
}

// checkPrev is the previous release of the API the wire and JSON tests
// change.
const checkPrev = `syntax = "proto3";
package acme.shop.v1;
import "rollpin/v1/options.proto";
option (rollpin.v1.api) = {version: "1.1"};
message Order {
  string id = 1;
  string note = 2;
  oneof delivery {
    string address = 3;
  }
  bool gift = 4 [(rollpin.v1.field) = {since: "1.1", default: "true"}];
}
`

// writeImage compiles a one-file API and writes it as a descriptor set.
func writeImage(t *testing.T, src string) string {
	t.Helper()
	c := protocompile.Compiler{
		Resolver: wellknownimports.WithStandardImports(protocompile.CompositeResolver{
			&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{"acme/shop/v1/shop.proto": src})},
			&protocompile.SourceResolver{ImportPaths: []string{"../../proto"}},
		}),
	}
	files, err := c.Compile(context.Background(), "acme/shop/v1/shop.proto")
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range []protoreflect.FileDescriptor{files[0].Imports().Get(0).FileDescriptor, files[0]} {
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "image.binpb")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckWireAndJSONBreaks: pindctl check, without buf, reports the
// changes that make an old peer misread a message, and exits 1.
func TestCheckWireAndJSONBreaks(t *testing.T) {
	t.Parallel()
	prev := writeImage(t, checkPrev)
	for _, tt := range []struct {
		name      string
		from, to  string
		rule, elt string
	}{
		{"field moved into a oneof", "  string note = 2;\n  oneof delivery {\n    string address = 3;\n", "  oneof delivery {\n    string address = 3;\n    string note = 2;\n",
			"ROLLPIN_FIELD_SAME_ONEOF", "acme.shop.v1.Order.note"},
		{"json_name changed", "string note = 2;", `string note = 2 [json_name = "remark"];`, "ROLLPIN_FIELD_SAME_JSON_NAME", "acme.shop.v1.Order.note"},
		{"field number reused", "string note = 2;", "string comment = 2;", "ROLLPIN_FIELD_NUMBER_NOT_REUSED", "acme.shop.v1.Order.comment"},
		{"field type changed", "string note = 2;", "bytes note = 2;", "ROLLPIN_FIELD_TYPE_UNCHANGED", "acme.shop.v1.Order.note"},
		{"repeated made singular", "string id = 1;", "repeated string id = 1;", "ROLLPIN_FIELD_TYPE_UNCHANGED", "acme.shop.v1.Order.id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cur := writeImage(t, strings.Replace(checkPrev, tt.from, tt.to, 1))
			code, out, _ := runCheck(t, "--against", prev, cur)
			if code != exitFailed || !strings.Contains(out, tt.elt+": "+tt.rule) {
				t.Errorf("check exit %d, want %d and %s on %s; stdout:\n%s", code, exitFailed, tt.rule, tt.elt, out)
			}
		})
	}
}

// TestCheckAllow: a changed default is a finding that --allow accepts on
// purpose; an unknown rule ID is a usage error.
func TestCheckAllow(t *testing.T) {
	t.Parallel()
	prev := writeImage(t, checkPrev)
	cur := writeImage(t, strings.Replace(checkPrev, `default: "true"`, `default: "false"`, 1))
	if code, out, _ := runCheck(t, "--against", prev, cur); code != exitFailed || !strings.Contains(out, "acme.shop.v1.Order.gift: ROLLPIN_DEFAULT_UNCHANGED") {
		t.Errorf("check of a changed default: exit %d, want %d and ROLLPIN_DEFAULT_UNCHANGED; stdout:\n%s", code, exitFailed, out)
	}
	if code, out, _ := runCheck(t, "--allow", "ROLLPIN_DEFAULT_UNCHANGED", "--against", prev, cur); code != exitOK {
		t.Errorf("check --allow ROLLPIN_DEFAULT_UNCHANGED: exit %d, want %d; stdout:\n%s", code, exitOK, out)
	}
	if code, _, errs := runCheck(t, "--allow", "ROLLPIN_NO_SUCH_RULE", "--against", prev, cur); code != exitUsage || !strings.Contains(errs, "no such rule") {
		t.Errorf("check --allow with an unknown rule: exit %d, stderr %q; want %d", code, errs, exitUsage)
	}
}
