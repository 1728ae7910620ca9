package main

import (
	"fmt"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// schema answers what the generator asks about the request's descriptors,
// through backport's own readers so that generated code and the engine
// agree.
type schema struct {
	reg  *protoregistry.Files
	eng  *backport.Engine
	msgs map[protoreflect.FullName]*protogen.Message
	may  map[protoreflect.FullName]bool
}

func newSchema(gen *protogen.Plugin) (*schema, error) {
	s := &schema{
		reg:  new(protoregistry.Files),
		msgs: map[protoreflect.FullName]*protogen.Message{},
		may:  map[protoreflect.FullName]bool{},
	}
	for _, f := range gen.Files {
		if err := s.reg.RegisterFile(f.Desc); err != nil {
			return nil, fmt.Errorf("protoc-gen-go-rollpin: %s: %w", f.Desc.Path(), err)
		}
		var add func([]*protogen.Message)
		add = func(ms []*protogen.Message) {
			for _, m := range ms {
				s.msgs[m.Desc.FullName()] = m
				add(m.Messages)
			}
		}
		add(f.Messages)
	}
	s.eng = backport.New(backport.WithFiles(s.reg))
	return s, nil
}

// track returns the track and version of d's package; ok false when it is
// unversioned.
func (s *schema) track(d protoreflect.Descriptor) (string, backport.Version, bool) {
	t, v, ok, err := backport.TrackOfIn(s.reg, d)
	if err != nil || !ok {
		return "", backport.Version{}, false
	}
	return t, v, true
}

// fieldOpt is a field's (rollpin.v1.field) option, parsed.
type fieldOpt struct {
	hasSince bool
	since    backport.Version
	action   rollpinv1.OnDowngrade
	def      string
}

func (s *schema) field(fd protoreflect.FieldDescriptor) fieldOpt {
	o, ok := backport.FieldOptions(fd)
	if !ok || o.GetSince() == "" {
		return fieldOpt{}
	}
	v, err := backport.ParseVersion(o.GetSince())
	if err != nil {
		return fieldOpt{}
	}
	return fieldOpt{hasSince: true, since: v, action: o.GetOnDowngrade(), def: o.GetDefault()}
}

// enumValue is one enum value with a since.
type enumValue struct {
	ev    protoreflect.EnumValueDescriptor
	since backport.Version
	to    protoreflect.EnumValueDescriptor // nil: rejected
}

// enumValues returns the values of ed with a since (first of aliases).
func (s *schema) enumValues(ed protoreflect.EnumDescriptor) []enumValue {
	if _, _, ok := s.track(ed); !ok {
		return nil
	}
	var out []enumValue
	seen := map[protoreflect.EnumNumber]bool{}
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		ev := vals.Get(i)
		o, ok := backport.EnumValueOptions(ev)
		if !ok || o.GetSince() == "" || seen[ev.Number()] {
			continue
		}
		v, err := backport.ParseVersion(o.GetSince())
		if err != nil {
			continue
		}
		seen[ev.Number()] = true
		e := enumValue{ev: ev, since: v}
		if to := o.GetDowngradeTo(); to != "" {
			e.to = vals.ByName(protoreflect.Name(to))
		}
		out = append(out, e)
	}
	return out
}

// enumVersioned reports whether ed has values with a since: it gets a
// generated RollpinDowngrade.
func (s *schema) enumVersioned(ed protoreflect.EnumDescriptor) bool {
	return len(s.enumValues(ed)) > 0
}

// mayChange reports whether some cap can make Downgrade change a message
// of type md: its subtree holds a message of a versioned package (unknown
// fields are dropped below the binary's version) or an enum with versioned
// values. Such messages get generated code.
func (s *schema) mayChange(md protoreflect.MessageDescriptor) bool {
	if v, ok := s.may[md.FullName()]; ok {
		return v
	}
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor) bool
	walk = func(md protoreflect.MessageDescriptor) bool {
		if seen[md.FullName()] {
			return false
		}
		seen[md.FullName()] = true
		if !md.IsMapEntry() {
			if _, _, ok := s.track(md); ok {
				return true
			}
		}
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			if fd.Enum() != nil && s.enumVersioned(fd.Enum()) {
				return true
			}
			if fd.Message() != nil && walk(fd.Message()) {
				return true
			}
		}
		return false
	}
	v := walk(md)
	s.may[md.FullName()] = v
	return v
}

// handles reports whether the generated code of fd's message handles fd
// (the engine checks the same rule, see backport.RegisterGenerated).
func (s *schema) handles(fd protoreflect.FieldDescriptor) bool {
	if s.field(fd).hasSince {
		return true
	}
	vd := fd
	if fd.IsMap() {
		vd = fd.MapValue()
	}
	switch {
	case vd.Message() != nil:
		return s.mayChange(vd.Message())
	case vd.Enum() != nil:
		return s.enumVersioned(vd.Enum())
	}
	return false
}
