package compat

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// The option readers of package backport cope with every way descriptors
// reach compat (generated, dynamicpb, unknown fields); these wrappers only
// fix the shapes the checks use. A corrupt option reads as absent.

func apiOptions(fd protoreflect.FileDescriptor) (*rollpinv1.ApiOptions, bool, error) {
	o, ok := backport.FileAPIOptions(fd)
	return o, ok, nil
}

func fieldOptions(fd protoreflect.FieldDescriptor) (*rollpinv1.FieldOptions, error) {
	o, _ := backport.FieldOptions(fd)
	return o, nil
}

func methodOptions(md protoreflect.MethodDescriptor) (*rollpinv1.MethodOptions, error) {
	o, _ := backport.MethodOptions(md)
	return o, nil
}

func enumValueOptions(vd protoreflect.EnumValueDescriptor) (*rollpinv1.EnumValueOptions, error) {
	o, _ := backport.EnumValueOptions(vd)
	return o, nil
}
