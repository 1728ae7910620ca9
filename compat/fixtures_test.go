package compat_test

import (
	"testing"

	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/compat/internal/fixtures"
)

// compileSet compiles .proto sources (path → text) into a descriptor set
// as a buf image carries it (fixtures.CompileSet).
func compileSet(t testing.TB, srcs map[string]string) *descriptorpb.FileDescriptorSet {
	return fixtures.CompileSet(t, "../proto", srcs)
}

// edit applies old → new replacements to src (fixtures.Edit).
func edit(t testing.TB, src string, pairs ...string) string { return fixtures.Edit(t, src, pairs...) }

const (
	volumePath = fixtures.VolumePath
	prevVolume = fixtures.PrevVolume
	curVolume  = fixtures.CurVolume
)
