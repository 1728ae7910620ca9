package backport_test

import (
	"bytes"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/backport/backporttest/plainpb"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
	"github.com/rollpin/rollpin/backport/backporttest/typespb"
)

// unknownTree is a message with unknown fields in every message at every
// depth, and no field newer than any cap: root (svc), singular (svc),
// nested in it (types), list elements (svc), map values (svc), a cyclic
// type three levels down (svc), and an unversioned envelope around it all.
func unknownTree() *plainpb.Envelope {
	return withUnknown(&plainpb.Envelope{
		Id: "e",
		Volume: withUnknown(&svcpb.Volume{
			Name: "v",
			Spec: withUnknown(&svcpb.Spec{SizeGb: 1, Quota: withUnknown(&typespb.Quota{Bytes: 1})}),
			Items: []*svcpb.Item{
				withUnknown(&svcpb.Item{Name: "a"}),
				withUnknown(&svcpb.Item{Name: "b", Spec: withUnknown(&svcpb.Spec{})}),
			},
			ByName: map[string]*svcpb.Item{"k": withUnknown(&svcpb.Item{Name: "k"})},
			Tree:   withUnknown(&svcpb.Node{Left: withUnknown(&svcpb.Node{Left: withUnknown(&svcpb.Node{Name: "deep"})})}),
			Label:  withUnknown(&typespb.Label{Key: "l"}),
		}),
		Labels: []*typespb.Label{withUnknown(&typespb.Label{Key: "x"})},
	})
}

// TestUnknownFieldsOneRule: at every cap below this binary's version of a
// track, every message of that track loses its unknown fields, at every
// depth; at a cap covering the binary's version they pass through, and so
// do those of unversioned messages. The input is never changed.
func TestUnknownFieldsOneRule(t *testing.T) {
	var caps []string
	for minor := range 5 { // svc 1.0 .. 1.4 (the schema)
		for _, types := range []string{"", ",rollpin.testpb.types.v1=2.0", ",rollpin.testpb.types.v1=2.2", ",rollpin.testpb.types.v1=2.3"} {
			caps = append(caps, fmt.Sprintf("rollpin.testpb.svc.v1=1.%d%s", minor, types))
		}
	}
	caps = append(caps, "rollpin.testpb.types.v1=2.1", "")
	engines := map[string]*backport.Engine{"default": backport.Default(), "protoreflect": backport.New(backport.WithGeneratedCode(false))}
	for ename, e := range engines {
		for _, w := range worlds {
			for _, c := range caps {
				t.Run(ename+"/"+w.name+"/"+c, func(t *testing.T) {
					e := e
					if w.name == "dynamic" {
						e = w.eng()
					}
					in := w.in(t, unknownTree())
					before := proto.Clone(in)
					cap := mustCap(t, c)
					out, err := e.Downgrade(in, cap)
					if err != nil {
						t.Fatalf("Downgrade() error = %v", err)
					}
					if !proto.Equal(in, before) {
						t.Fatalf("Downgrade mutated its input")
					}
					kept, dropped := 0, 0
					walkMessages(out.ProtoReflect(), "", func(path string, m protoreflect.Message) {
						cv, capped := capOf(t, m.Descriptor(), cap)
						_, schema, versioned, _ := backport.TrackOfIn(nil, m.Descriptor())
						if w.name == "dynamic" {
							_, schema, versioned, _ = backport.TrackOfIn(dynamicFiles(), m.Descriptor())
						}
						wantDrop := versioned && capped && cv.Less(schema)
						got := m.GetUnknown()
						switch {
						case wantDrop && len(got) > 0:
							t.Errorf("%s (%s): unknown fields kept at cap %q", path, m.Descriptor().FullName(), c)
						case !wantDrop && !bytes.Equal(got, withUnknown(&plainpb.Envelope{}).ProtoReflect().GetUnknown()):
							t.Errorf("%s (%s): unknown fields %x lost at cap %q", path, m.Descriptor().FullName(), got, c)
						}
						if wantDrop {
							dropped++
						} else {
							kept++
						}
					})
					if kept+dropped != 13 {
						t.Errorf("walked %d messages, want 13", kept+dropped)
					}
					if dropped == 0 && out != in {
						t.Errorf("nothing to drop, but Downgrade returned a copy")
					}
				})
			}
		}
	}
}

// walkMessages calls fn for m and every message inside it.
func walkMessages(m protoreflect.Message, path string, fn func(string, protoreflect.Message)) {
	fn(path, m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					walkMessages(mv.Message(), p+backport.MapKeyText(k), fn)
					return true
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := 0; i < v.List().Len(); i++ {
					walkMessages(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", p, i), fn)
				}
			}
		case fd.Message() != nil:
			walkMessages(v.Message(), p, fn)
		}
		return true
	})
}

// TestUnknownFieldsFastPathAllocates: with nothing newer than the cap and
// the cap at the binary's version, Downgrade returns its input without
// allocating even though the input carries unknown fields.
func TestUnknownFieldsFastPathAllocates(t *testing.T) {
	in := unknownTree()
	cap := mustCap(t, "rollpin.testpb.svc.v1=1.4,rollpin.testpb.types.v1=2.3")
	if a := testing.AllocsPerRun(100, func() {
		out, err := backport.Downgrade(in, cap)
		if err != nil || out != proto.Message(in) {
			t.Fatalf("Downgrade() = %v, %v; want the input", out, err)
		}
	}); a != 0 {
		t.Errorf("Downgrade at the binary's version allocates %v times, want 0", a)
	}
}
