package interceptor

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// methodSince returns the since of a method's (rollpin.v1.method) option,
// reading it from dynamic descriptors too (options carried as unknown
// fields are re-read with the global type registry).
func methodSince(md protoreflect.MethodDescriptor) (backport.Version, bool, error) {
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok || opts == nil {
		return backport.Version{}, false, nil
	}
	if !proto.HasExtension(opts, rollpinv1.E_Method) && len(opts.ProtoReflect().GetUnknown()) > 0 {
		b, err := proto.Marshal(opts)
		if err != nil {
			return backport.Version{}, false, fmt.Errorf("method %s: options: %w", md.FullName(), err)
		}
		fresh := &descriptorpb.MethodOptions{}
		if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(b, fresh); err != nil {
			return backport.Version{}, false, fmt.Errorf("method %s: options: %w", md.FullName(), err)
		}
		opts = fresh
	}
	mo, _ := proto.GetExtension(opts, rollpinv1.E_Method).(*rollpinv1.MethodOptions)
	if mo.GetSince() == "" {
		return backport.Version{}, false, nil
	}
	v, err := backport.ParseVersion(mo.GetSince())
	if err != nil {
		return backport.Version{}, false, fmt.Errorf("method %s: since: %w", md.FullName(), err)
	}
	return v, true, nil
}

// reachablePackages returns the proto packages of every message and enum
// reachable from the method's request and response types (including theirs).
func reachablePackages(md protoreflect.MethodDescriptor) []string {
	seen := map[protoreflect.FullName]bool{}
	pkgs := map[string]bool{string(md.ParentFile().Package()): true}
	var walk func(m protoreflect.MessageDescriptor)
	walk = func(m protoreflect.MessageDescriptor) {
		if seen[m.FullName()] {
			return
		}
		seen[m.FullName()] = true
		pkgs[string(m.ParentFile().Package())] = true
		fields := m.Fields()
		for i := 0; i < fields.Len(); i++ {
			f := fields.Get(i)
			if e := f.Enum(); e != nil {
				pkgs[string(e.ParentFile().Package())] = true
			}
			if sub := f.Message(); sub != nil {
				walk(sub)
			}
		}
	}
	walk(md.Input())
	walk(md.Output())
	out := make([]string, 0, len(pkgs))
	for p := range pkgs {
		out = append(out, p)
	}
	return out
}
