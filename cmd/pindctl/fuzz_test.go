package main

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// FuzzParseDescriptorSet: whatever parseDescriptorSet accepts is safe to
// build files and a manifest from. The seeds are one small annotated file in
// each accepted encoding (binary, JSON, gzip): large seeds (a real service's
// descriptors) left the fuzzer minimising for most of its time.
func FuzzParseDescriptorSet(f *testing.F) {
	api := &descriptorpb.FileOptions{}
	proto.SetExtension(api, rollpinv1.E_Api, &rollpinv1.ApiOptions{Version: "1.2"})
	fds := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{{
		Name: proto.String("a.proto"), Package: proto.String("a"), Options: api,
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M")}},
	}}}
	b, err := proto.Marshal(fds)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	js, err := protojson.Marshal(fds)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(b)
	zw.Close()
	f.Add(gz.Bytes())
	f.Add([]byte(`{"file":[{"name":"a.proto","package":"a"}]}`))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fds, err := parseDescriptorSet(data)
		if err != nil {
			return
		}
		// Whatever parses must be safe to build files from.
		if files, err := (protodesc.FileOptions{AllowUnresolvable: true}).NewFiles(fds); err == nil {
			_ = backport.ManifestOf(files)
		}
	})
}

func FuzzParseEndpoints(f *testing.F) {
	for _, s := range []string{"127.0.0.1:7070", "a:1,b:2", "", ",", "[::1]:7070", "host", "a:1, b:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		eps, err := parseEndpoints(s)
		if err != nil {
			return
		}
		if len(eps) == 0 {
			t.Fatalf("parseEndpoints(%q) = no endpoints and no error", s)
		}
		for _, ep := range eps {
			if ep == "" || strings.Contains(ep, ",") {
				t.Fatalf("parseEndpoints(%q) returned %q", s, ep)
			}
		}
	})
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"1.4", "acme.volume.v1=1.4", "a=1.0,b=2.0", "1", "=", "1.4=1.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseTarget("acme.volume.v1.VolumeService", s, backport.Manifest{})
		if err != nil {
			if exitCode(err) != exitUsage {
				t.Fatalf("parseTarget(%q) error %v is not a usage error", s, err)
			}
			return
		}
		if m.IsEmpty() {
			t.Fatalf("parseTarget(%q) = empty manifest", s)
		}
		if _, err := backport.ParseManifest(m.String()); err != nil {
			t.Fatalf("parseTarget(%q) = %v, which does not parse back: %v", s, m, err)
		}
	})
}

func FuzzResolveService(f *testing.F) {
	known := []string{"acme.volume.v1.VolumeService", "acme.volume.v2.VolumeService", "other.Service"}
	for _, s := range []string{"VolumeService", "v1.VolumeService", "Service", "x.y", "", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := resolveService(s, known)
		if err != nil {
			return
		}
		if got != s && !strings.HasSuffix(got, "."+s) {
			t.Fatalf("resolveService(%q) = %q, which does not end in it at a dot", s, got)
		}
	})
}
