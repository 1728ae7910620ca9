package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// versionedFile returns a file of package pkg declaring its track at
// version (no declaration when version is empty).
func versionedFile(name, pkg, version string) *descriptorpb.FileDescriptorProto {
	fd := &descriptorpb.FileDescriptorProto{
		Name:        proto.String(name),
		Package:     proto.String(pkg),
		Syntax:      proto.String("proto3"),
		Dependency:  []string{"rollpin/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M_" + strings.TrimSuffix(filepath.Base(name), ".proto"))}},
		Options:     &descriptorpb.FileOptions{},
	}
	if version != "" {
		proto.SetExtension(fd.Options, rollpinv1.E_Api, &rollpinv1.ApiOptions{Version: version})
	}
	return fd
}

// writeSets writes fds as binary, JSON and gzip-compressed binary, and
// returns the paths.
func writeSets(t *testing.T, fds *descriptorpb.FileDescriptorSet) map[string]string {
	t.Helper()
	dir := t.TempDir()
	bin, err := proto.Marshal(fds)
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(fds)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bin)
	zw.Close()
	paths := map[string]string{}
	for name, data := range map[string][]byte{"set.binpb": bin, "set.json": js, "set.binpb.gz": gz.Bytes()} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

func TestManifestOfDescriptorSet(t *testing.T) {
	fds := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(descriptorpb.File_google_protobuf_descriptor_proto),
		protodesc.ToFileDescriptorProto(rollpinv1.File_rollpin_v1_options_proto),
		versionedFile("acme/volume/v1/volume.proto", "acme.volume.v1", "1.4"),
		versionedFile("acme/volume/v1/types.proto", "acme.volume.v1", ""),
		versionedFile("acme/types/v1/types.proto", "acme.types.v1", "2.0"),
		versionedFile("acme/plain/plain.proto", "acme.plain", ""),
	}}
	for name, path := range writeSets(t, fds) {
		t.Run(name, func(t *testing.T) {
			r := pindctl(t, nil, "manifest", "--descriptor-set", path)
			expect(t, r, exitOK, "acme.volume.v1")
			golden(t, "manifest", r.out)
			r = pindctl(t, nil, "-o", "json", "manifest", "--descriptor-set", path)
			expect(t, r, exitOK, `"manifest": "acme.types.v1=2.0,acme.volume.v1=1.4"`)
			r = pindctl(t, nil, "-o", "yaml", "manifest", "--descriptor-set", path)
			expect(t, r, exitOK, "manifest: acme.types.v1=2.0,acme.volume.v1=1.4\ntracks:\n  acme.types.v1: \"2.0\"\n  acme.volume.v1: \"1.4\"\n")
		})
	}
}

func TestManifestOfBufImage(t *testing.T) {
	// testdata/volume-1.4.binpb is `buf build -o` of the 1.4 example API.
	r := pindctl(t, nil, "-o", "json", "manifest", "--descriptor-set", filepath.Join("testdata", "volume-1.4.binpb"))
	expect(t, r, exitOK, `"manifest": "acme.volume.v1=1.4"`)
}

func TestManifestIncompleteSet(t *testing.T) {
	// Built without --include_imports: the options file is missing.
	fds := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		versionedFile("acme/volume/v1/volume.proto", "acme.volume.v1", "1.3"),
	}}
	r := pindctl(t, nil, "-o", "json", "manifest", "--descriptor-set", writeSets(t, fds)["set.binpb"])
	expect(t, r, exitOK, `"manifest": "acme.volume.v1=1.3"`)
	expect(t, r, exitOK, "is incomplete")
}

func TestManifestErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a descriptor set"), 0o644)
	r := pindctl(t, nil, "manifest", "--descriptor-set", junk)
	expect(t, r, exitFailed, "give a FileDescriptorSet (protoc --descriptor_set_out) or a buf image (buf build -o)")
	r = pindctl(t, nil, "manifest", "--descriptor-set", filepath.Join(dir, "missing"))
	expect(t, r, exitFailed, "no such file")

	conflict := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(descriptorpb.File_google_protobuf_descriptor_proto),
		protodesc.ToFileDescriptorProto(rollpinv1.File_rollpin_v1_options_proto),
		versionedFile("acme/volume/v1/a.proto", "acme.volume.v1", "1.3"),
		versionedFile("acme/volume/v1/b.proto", "acme.volume.v1", "1.4"),
		versionedFile("acme/types/v1/types.proto", "acme.types.v1", "2.0"),
	}}
	r = pindctl(t, nil, "manifest", "--descriptor-set", writeSets(t, conflict)["set.binpb"])
	expect(t, r, exitFailed, "leaves out tracks whose declarations are invalid")
	expect(t, r, exitFailed, "acme.types.v1  2.0")
}

func TestOwnManifest(t *testing.T) {
	// pindctl links no versioned API: its own manifest is empty.
	r := pindctl(t, nil, "-o", "json", "manifest")
	expect(t, r, exitOK, `"manifest": ""`)
}
