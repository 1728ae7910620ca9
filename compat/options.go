package compat

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// The option readers of package backport cope with every way descriptors
// reach compat (generated, dynamicpb, unknown fields). A corrupt option reads
// as absent: backport reports it when it compiles a plan, and RoundTrip
// surfaces that error.

func apiOptions(fd protoreflect.FileDescriptor) (*rollpinv1.ApiOptions, bool) {
	return backport.FileAPIOptions(fd)
}

func fieldOptions(fd protoreflect.FieldDescriptor) *rollpinv1.FieldOptions {
	o, _ := backport.FieldOptions(fd)
	return o
}

func methodOptions(md protoreflect.MethodDescriptor) *rollpinv1.MethodOptions {
	o, _ := backport.MethodOptions(md)
	return o
}

func enumValueOptions(vd protoreflect.EnumValueDescriptor) *rollpinv1.EnumValueOptions {
	o, _ := backport.EnumValueOptions(vd)
	return o
}
