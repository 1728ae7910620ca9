package compat_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/compat"
)

// FuzzParseImage feeds arbitrary bytes to the image loader and, when they
// decode and link, to every check: nothing may panic, and a rejected input
// must wrap ErrBadImage.
func FuzzParseImage(f *testing.F) {
	for _, path := range []string{exampleV1, exampleV2} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		set, err := compat.ParseImage(b)
		if err != nil {
			f.Fatal(err)
		}
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
	}
	small, err := proto.Marshal(compileSet(f, map[string]string{volumePath: curVolume}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
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
