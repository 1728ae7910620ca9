package compat_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/compat"
)

// FuzzParseImage feeds arbitrary bytes to the image loader and, when they
// decode and link, to every check: nothing may panic, and a rejected input
// must wrap ErrBadImage.
//
// The seeds are small on purpose (a few hundred bytes: one annotated file
// in each encoding ParseImage accepts): the fuzzer's minimisation of a new
// input costs time in proportion to its size, and with real buf images as
// seeds (85 KB each) it made almost no progress.
func FuzzParseImage(f *testing.F) {
	set := compileSet(f, map[string]string{"a.proto": `syntax = "proto3";
package a;
import "rollpin/v1/options.proto";
option (rollpin.v1.api) = {version: "1.2"};
message M {
  E e = 1;
  double d = 2 [(rollpin.v1.field) = {since: "1.1", default: "inf"}];
}
enum E { Z = 0; N = 1 [(rollpin.v1.enum_value) = {since: "1.2", downgrade_to: "Z"}]; }
`})
	for _, fd := range set.File {
		fd.SourceCodeInfo = nil
		for _, md := range fd.MessageType {
			for _, fl := range md.Field {
				fl.JsonName = nil
			}
		}
	}
	// Only the annotated file: options.proto and descriptor.proto come from
	// the binary, as for an image built with --exclude-imports.
	set.File = set.File[len(set.File)-1:]
	b, err := proto.Marshal(set)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	js, err := protojson.Marshal(set)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(b)
	zw.Close()
	f.Add(gz.Bytes())
	f.Add([]byte{})
	f.Add([]byte("{"))
	f.Add([]byte{0x1f, 0x8b, 0x00})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})

	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := compat.ParseImage(b)
		if err != nil {
			if !errors.Is(err, compat.ErrBadImage) {
				t.Fatalf("ParseImage error %v does not wrap ErrBadImage", err)
			}
			return
		}
		files, err := compat.NewFiles(set)
		if err != nil {
			return
		}
		compat.Lint(files)
		if fs := compat.Diff(files, files); len(fs) != 0 {
			t.Errorf("Diff of a schema with itself = %v, want nothing", fs)
		}
	})
}
