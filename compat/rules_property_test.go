package compat_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/compat"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// TestLintAgreesWithEngine is the one-rule-set property: on random
// annotated schemas, compat.Lint reports exactly the (file, element, rule)
// triples the engine refuses when it compiles every message, reads every
// method's since and every package declaration. So whatever lint accepts,
// the engine compiles, and whatever the engine compiles, lint accepts.
func TestLintAgreesWithEngine(t *testing.T) {
	t.Parallel()
	cleanSeen, dirtySeen := 0, 0
	for seed := uint64(1); seed <= 400; seed++ {
		files := randomSchema(t, seed)
		eng := backport.New(backport.WithFiles(files))
		lint := map[string]bool{}
		for _, f := range compat.Lint(files) {
			lint[fmt.Sprintf("%s %s %s", f.File, f.Element, f.Rule)] = true
		}
		engine := map[string]bool{}
		addErr := func(err error) {
			for _, v := range violations(err) {
				engine[fmt.Sprintf("%s %s %s", v.File, v.Element, v.Rule)] = true
			}
			if err != nil && len(violations(err)) == 0 {
				t.Errorf("seed %d: engine error without a rule: %v", seed, err)
			}
		}
		files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			for i := 0; i < fd.Messages().Len(); i++ {
				addErr(eng.CheckMessage(fd.Messages().Get(i)))
			}
			for i := 0; i < fd.Services().Len(); i++ {
				ms := fd.Services().Get(i).Methods()
				for j := 0; j < ms.Len(); j++ {
					_, _, _, err := eng.MethodSince(ms.Get(j))
					addErr(err)
				}
			}
			return true
		})
		_, err := backport.ManifestOfFiles(files)
		addErr(err)
		if diff := cmp.Diff(sortedSet(lint), sortedSet(engine)); diff != "" {
			t.Fatalf("seed %d: lint and engine disagree (-lint +engine):\n%s", seed, diff)
		}
		if len(lint) == 0 {
			cleanSeen++
		} else {
			dirtySeen++
		}
	}
	if cleanSeen < 20 || dirtySeen < 20 {
		t.Errorf("generator produced %d clean and %d invalid schemas; want both kinds often", cleanSeen, dirtySeen)
	}
}

func violations(err error) []*backport.Violation {
	if err == nil {
		return nil
	}
	var v *backport.Violation
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*backport.Violation
		for _, e := range j.Unwrap() {
			out = append(out, violations(e)...)
		}
		return out
	}
	if errors.As(err, &v) {
		return []*backport.Violation{v}
	}
	return nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// randomSchema builds two packages of up to three files with random rollpin
// annotations, valid and invalid, drawn from small pools so that both occur.
func randomSchema(t *testing.T, seed uint64) *protoregistry.Files {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	// Half the schemas draw from a mostly valid pool, so that clean ones
	// are common; a choice of the valid pool is one that usually parses.
	sloppy := rng.IntN(2) == 0
	valid := func() bool { return !sloppy && rng.IntN(30) > 0 }
	since := func() string {
		if valid() {
			return pick("1.0", "1.2", "1.3")
		}
		return pick("1.4", "2.0", "1.x", "v1.2", "", "1.3")
	}
	defaults := func(kind descriptorpb.FieldDescriptorProto_Type) string {
		if rng.IntN(2) == 0 {
			return ""
		}
		if valid() {
			switch kind {
			case descriptorpb.FieldDescriptorProto_TYPE_BOOL:
				return "true"
			case descriptorpb.FieldDescriptorProto_TYPE_FLOAT, descriptorpb.FieldDescriptorProto_TYPE_DOUBLE:
				return pick("1.5", "INF", "-inf", "nan", "Infinity")
			case descriptorpb.FieldDescriptorProto_TYPE_ENUM:
				return "E_A"
			case descriptorpb.FieldDescriptorProto_TYPE_MESSAGE:
				return "a: 1"
			}
			return "42"
		}
		switch kind {
		case descriptorpb.FieldDescriptorProto_TYPE_BOOL:
			return pick("true", "false", "maybe", "1")
		case descriptorpb.FieldDescriptorProto_TYPE_INT32, descriptorpb.FieldDescriptorProto_TYPE_UINT32:
			return pick("42", "-1", "4294967296", "0x10")
		case descriptorpb.FieldDescriptorProto_TYPE_INT64:
			return pick("42", "-9", "1.5")
		case descriptorpb.FieldDescriptorProto_TYPE_FLOAT, descriptorpb.FieldDescriptorProto_TYPE_DOUBLE:
			return pick("1.5", "INF", "-inf", "nan", "Infinity", "1e39", "1e400", "one", "")
		case descriptorpb.FieldDescriptorProto_TYPE_STRING:
			return pick("x", "\xff")
		case descriptorpb.FieldDescriptorProto_TYPE_BYTES:
			return pick("x", "\xff")
		case descriptorpb.FieldDescriptorProto_TYPE_ENUM:
			return pick("E_ZERO", "E_A", "E_Q")
		case descriptorpb.FieldDescriptorProto_TYPE_MESSAGE:
			return pick("a: 1", "nope: 1", "a: 'x'")
		}
		return ""
	}
	kinds := []descriptorpb.FieldDescriptorProto_Type{
		descriptorpb.FieldDescriptorProto_TYPE_BOOL, descriptorpb.FieldDescriptorProto_TYPE_INT32,
		descriptorpb.FieldDescriptorProto_TYPE_UINT32, descriptorpb.FieldDescriptorProto_TYPE_INT64,
		descriptorpb.FieldDescriptorProto_TYPE_FLOAT, descriptorpb.FieldDescriptorProto_TYPE_DOUBLE,
		descriptorpb.FieldDescriptorProto_TYPE_STRING, descriptorpb.FieldDescriptorProto_TYPE_BYTES,
		descriptorpb.FieldDescriptorProto_TYPE_ENUM, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE,
	}
	type fileSpec struct{ path, pkg string }
	specs := []fileSpec{{"p/a1.proto", "p.a.v1"}, {"p/a2.proto", "p.a.v1"}, {"p/b.proto", "p.b.v1"}}
	if rng.IntN(2) == 0 {
		specs = specs[:2]
	}
	set := &descriptorpb.FileDescriptorSet{}
	for fi, spec := range specs {
		fdp := &descriptorpb.FileDescriptorProto{
			Name: proto.String(spec.path), Package: proto.String(spec.pkg), Syntax: proto.String("proto3"),
		}
		if fi == 0 || rng.IntN(4) > 0 {
			v := pick("1.3", "1.3", "1.3", "1.4", "x")
			if fi == 1 && rng.IntN(4) > 0 || valid() {
				v = "1.3" // usually agree with a1
			}
			fo := &descriptorpb.FileOptions{}
			proto.SetExtension(fo, rollpinv1.E_Api, &rollpinv1.ApiOptions{Version: v})
			fdp.Options = fo
		}
		prefix := fmt.Sprintf("F%d", fi)
		enumName := prefix + "E"
		ed := &descriptorpb.EnumDescriptorProto{Name: proto.String(enumName)}
		for i, name := range []string{"E_ZERO", "E_A", "E_B"} {
			vd := &descriptorpb.EnumValueDescriptorProto{Name: proto.String(prefix + "_" + name), Number: proto.Int32(int32(i))}
			if i > 0 && rng.IntN(2) == 0 {
				eo := &descriptorpb.EnumValueOptions{}
				to := pick("", "", "E_ZERO", "E_A", "E_B", "E_Q")
				if valid() {
					to = pick("", "E_ZERO")
				}
				if to != "" {
					to = prefix + "_" + to
				}
				proto.SetExtension(eo, rollpinv1.E_EnumValue, &rollpinv1.EnumValueOptions{Since: since(), DowngradeTo: to})
				vd.Options = eo
			}
			ed.Value = append(ed.Value, vd)
		}
		fdp.EnumType = append(fdp.EnumType, ed)
		inner := &descriptorpb.DescriptorProto{
			Name: proto.String(prefix + "Inner"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("a"), Number: proto.Int32(1), JsonName: proto.String("a"),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(),
			}},
		}
		fdp.MessageType = append(fdp.MessageType, inner)
		for mi := 0; mi < 2; mi++ {
			md := &descriptorpb.DescriptorProto{Name: proto.String(fmt.Sprintf("%sM%d", prefix, mi))}
			for n := 1; n <= 2+rng.IntN(5); n++ {
				kind := kinds[rng.IntN(len(kinds))]
				name := fmt.Sprintf("f%d", n)
				fp := &descriptorpb.FieldDescriptorProto{
					Name: proto.String(name), Number: proto.Int32(int32(n)), JsonName: proto.String(name),
					Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: kind.Enum(),
				}
				if rng.IntN(6) == 0 && !valid() {
					fp.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
				}
				switch kind {
				case descriptorpb.FieldDescriptorProto_TYPE_ENUM:
					fp.TypeName = proto.String("." + spec.pkg + "." + enumName)
				case descriptorpb.FieldDescriptorProto_TYPE_MESSAGE:
					fp.TypeName = proto.String("." + spec.pkg + "." + prefix + "Inner")
				}
				if rng.IntN(3) > 0 {
					o := &rollpinv1.FieldOptions{Since: since(), Default: defaults(kind)}
					if o.OnDowngrade == 0 && valid() && o.Since == "" {
						o.Default = ""
					}
					if rng.IntN(3) == 0 && (!valid() || o.Since != "") {
						o.OnDowngrade = rollpinv1.OnDowngrade([]int32{1, 2, 3, 7}[rng.IntN(4)])
					}
					if kind == descriptorpb.FieldDescriptorProto_TYPE_ENUM && o.Default != "" && o.Default != "E_Q" {
						o.Default = prefix + "_" + o.Default
					}
					fo := &descriptorpb.FieldOptions{}
					proto.SetExtension(fo, rollpinv1.E_Field, o)
					fp.Options = fo
				}
				md.Field = append(md.Field, fp)
			}
			// Every enum is reachable from a message, as the engine only
			// compiles enums that a field uses.
			md.Field = append(md.Field, &descriptorpb.FieldDescriptorProto{
				Name: proto.String("e"), Number: proto.Int32(100), JsonName: proto.String("e"),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_ENUM.Enum(),
				TypeName: proto.String("." + spec.pkg + "." + enumName),
			})
			fdp.MessageType = append(fdp.MessageType, md)
		}
		sd := &descriptorpb.ServiceDescriptorProto{Name: proto.String(prefix + "S")}
		for i := 0; i < 2; i++ {
			mo := &descriptorpb.MethodOptions{}
			if s := since(); s != "" {
				proto.SetExtension(mo, rollpinv1.E_Method, &rollpinv1.MethodOptions{Since: s})
			}
			sd.Method = append(sd.Method, &descriptorpb.MethodDescriptorProto{
				Name: proto.String(fmt.Sprintf("Do%d", i)), Options: mo,
				InputType: proto.String("." + spec.pkg + "." + prefix + "M0"), OutputType: proto.String("." + spec.pkg + "." + prefix + "M1"),
			})
		}
		fdp.Service = append(fdp.Service, sd)
		set.File = append(set.File, fdp)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatalf("seed %d: build schema: %v", seed, err)
	}
	return files
}
