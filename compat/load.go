package compat

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// ErrBadImage is wrapped by every error ParseImage and ReadImage return for
// input that is not a descriptor set.
var ErrBadImage = errors.New("compat: not a descriptor set or buf image")

// maxImageSize bounds the decompressed size of an image, so that a hostile
// gzip stream cannot make the process allocate without limit.
const maxImageSize = 256 << 20

// ParseImage decodes a descriptor set from b. It accepts what
// `buf build -o FILE` writes for the .binpb, .bin, .json and .gz forms, and
// what `protoc --descriptor_set_out` writes: a binary
// google.protobuf.FileDescriptorSet or buf image (a buf image is
// wire-compatible with a FileDescriptorSet), the JSON form of either, and a
// gzip of any of these. Errors wrap ErrBadImage.
func ParseImage(b []byte) (*descriptorpb.FileDescriptorSet, error) {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrBadImage, err)
		}
		ub, err := io.ReadAll(io.LimitReader(zr, maxImageSize+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrBadImage, err)
		}
		if len(ub) > maxImageSize {
			return nil, fmt.Errorf("%w: larger than %d bytes once decompressed", ErrBadImage, maxImageSize)
		}
		b = ub
	}
	set := &descriptorpb.FileDescriptorSet{}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(t, set); err != nil {
			return nil, fmt.Errorf("%w: json: %v", ErrBadImage, err)
		}
		return set, nil
	}
	if err := proto.Unmarshal(b, set); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	for i, f := range set.GetFile() {
		if f.GetName() == "" {
			return nil, fmt.Errorf("%w: file %d has no name", ErrBadImage, i)
		}
	}
	return set, nil
}

// ReadImage reads and decodes the descriptor set or buf image in the file at
// path; see ParseImage.
func ReadImage(path string) (*descriptorpb.FileDescriptorSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("compat: read image: %w", err)
	}
	set, err := ParseImage(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// NewFiles links the files of set into a registry. Imports the set does not
// carry (an image built with --exclude-imports) are taken from the files
// linked into this binary (protoregistry.GlobalFiles), which include
// google/protobuf/descriptor.proto and rollpin/v1/options.proto.
func NewFiles(set *descriptorpb.FileDescriptorSet) (*protoregistry.Files, error) {
	byName := make(map[string]*descriptorpb.FileDescriptorProto, len(set.GetFile()))
	for _, f := range set.GetFile() {
		if _, dup := byName[f.GetName()]; dup {
			return nil, fmt.Errorf("%w: file %q appears twice", ErrBadImage, f.GetName())
		}
		byName[f.GetName()] = f
	}
	files := &protoregistry.Files{}
	resolver := fallbackResolver{files}
	visiting := map[string]bool{}
	var add func(name string) error
	add = func(name string) error {
		if _, err := files.FindFileByPath(name); err == nil {
			return nil
		}
		fdp, ok := byName[name]
		if !ok {
			// Resolved from the global registry when referenced.
			return nil
		}
		if visiting[name] {
			return fmt.Errorf("%w: import cycle through %q", ErrBadImage, name)
		}
		visiting[name] = true
		for _, dep := range fdp.GetDependency() {
			if err := add(dep); err != nil {
				return err
			}
		}
		fd, err := protodesc.NewFile(fdp, resolver)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadImage, name, err)
		}
		if err := files.RegisterFile(fd); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadImage, name, err)
		}
		return nil
	}
	for _, f := range set.GetFile() {
		if err := add(f.GetName()); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// fallbackResolver finds descriptors in files first, then in the global
// registry.
type fallbackResolver struct{ files *protoregistry.Files }

func (r fallbackResolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := r.files.FindFileByPath(path); err == nil {
		return fd, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

func (r fallbackResolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := r.files.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}
