package backport_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/backport/backporttest/plainpb"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
	"github.com/rollpin/rollpin/backport/backporttest/typespb"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func init() {
	// The test API's CUSTOM fields (url, mount_options) fold into legacy.
	backport.RegisterDowngrader("rollpin.testpb.svc.v1.Volume", volumeDowngrader)
}

// dynEngine serves the dynamic world: its files are dynamicFiles.
var dynEngine = sync.OnceValue(func() *backport.Engine {
	return backport.New(backport.WithFiles(dynamicFiles()), backport.WithDowngrader("rollpin.testpb.svc.v1.Volume", volumeDowngrader))
})

// volumeDowngrader is the test API's obj_make_compatible for Volume.
func volumeDowngrader(m protoreflect.Message, _ backport.Manifest) error {
	fields := m.Descriptor().Fields()
	var parts []string
	for _, name := range []protoreflect.Name{"url", "mount_options"} {
		if fd := fields.ByName(name); m.Has(fd) {
			parts = append(parts, string(name)+"="+m.Get(fd).String())
		}
	}
	legacy := fields.ByName("legacy")
	if prev := m.Get(legacy).String(); prev != "" {
		parts = append([]string{prev}, parts...)
	}
	m.Set(legacy, protoreflect.ValueOfString(strings.Join(parts, ";")))
	return nil
}

// dynamicFiles are the test API's descriptors rebuilt at run time from a
// descriptor set whose options were decoded without knowing the rollpin
// extensions (so they are unknown fields), as a proxy reading a descriptor
// set would see them. dynEngine finds package declarations in them.
var dynamicFiles = sync.OnceValue(func() *protoregistry.Files {
	var set descriptorpb.FileDescriptorSet
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imps := fd.Imports()
		for i := 0; i < imps.Len(); i++ {
			add(imps.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(plainpb.File_rollpin_testpb_plain_v1_plain_proto)
	b, err := proto.Marshal(&set)
	if err != nil {
		panic(err)
	}
	var raw descriptorpb.FileDescriptorSet
	if err := (proto.UnmarshalOptions{Resolver: new(protoregistry.Types)}).Unmarshal(b, &raw); err != nil {
		panic(err)
	}
	files, err := protodesc.NewFiles(&raw)
	if err != nil {
		panic(err)
	}
	return files
})

func dynamicDesc(t testing.TB, name protoreflect.FullName) protoreflect.MessageDescriptor {
	t.Helper()
	d, err := dynamicFiles().FindDescriptorByName(name)
	if err != nil {
		t.Fatalf("dynamic descriptor %s: %v", name, err)
	}
	return d.(protoreflect.MessageDescriptor)
}

// world is one way of holding the test API's messages: generated Go types
// or dynamicpb messages over run-time descriptors. Tests build inputs and
// expectations as generated messages and convert them.
type world struct {
	name string
	// in converts a generated message into this world.
	in func(t testing.TB, m proto.Message) proto.Message
	// eng returns the engine serving this world.
	eng func() *backport.Engine
}

var worlds = []world{
	{name: "generated", in: func(t testing.TB, m proto.Message) proto.Message { return proto.Clone(m) }, eng: backport.Default},
	{name: "dynamic", in: toDynamic, eng: dynEngine},
	// Generated messages through the protoreflect path.
	{name: "reflect", in: func(t testing.TB, m proto.Message) proto.Message { return proto.Clone(m) }, eng: func() *backport.Engine { return reflectEngine }},
}

func toDynamic(t testing.TB, m proto.Message) proto.Message {
	t.Helper()
	dm := dynamicpb.NewMessage(dynamicDesc(t, m.ProtoReflect().Descriptor().FullName()))
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, dm); err != nil {
		t.Fatal(err)
	}
	if len(m.ProtoReflect().GetUnknown()) != len(dm.GetUnknown()) {
		t.Fatalf("toDynamic: unknown fields not carried over")
	}
	return dm
}

// toGenerated converts a message of any world into the generated type of
// like.
func toGenerated(t testing.TB, m proto.Message, like proto.Message) proto.Message {
	t.Helper()
	if m == nil {
		return nil
	}
	out := like.ProtoReflect().Type().New().Interface()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustCap(t testing.TB, s string) backport.Manifest {
	t.Helper()
	m, err := backport.ParseManifest(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ---- an independent model of the rules, for the property tests ----

// sinceOf reads a field's since straight from its options.
func sinceOf(t testing.TB, fd protoreflect.FieldDescriptor) (backport.Version, rollpinv1.OnDowngrade, bool) {
	type since struct {
		v   backport.Version
		act rollpinv1.OnDowngrade
		ok  bool
	}
	if c, ok := sinceCache.Load(fd); ok {
		s := c.(since)
		return s.v, s.act, s.ok
	}
	v, act, ok := sinceOfUncached(t, fd)
	sinceCache.Store(fd, since{v, act, ok})
	return v, act, ok
}

var sinceCache, trackCache sync.Map

func sinceOfUncached(t testing.TB, fd protoreflect.FieldDescriptor) (backport.Version, rollpinv1.OnDowngrade, bool) {
	o, ok := backport.FieldOptions(fd)
	if !ok || o.GetSince() == "" {
		return backport.Version{}, 0, false
	}
	v, err := backport.ParseVersion(o.GetSince())
	if err != nil {
		t.Fatalf("%s: %v", fd.FullName(), err)
	}
	return v, o.GetOnDowngrade(), true
}

func capOf(t testing.TB, d protoreflect.Descriptor, cap backport.Manifest) (backport.Version, bool) {
	f := d.ParentFile()
	c, cached := trackCache.Load(f)
	if !cached {
		files := protoregistry.GlobalFiles
		if g, err := dynamicFiles().FindFileByPath(f.Path()); err == nil && g == f {
			files = dynamicFiles()
		}
		track, _, ok, err := backport.TrackOfIn(files, d)
		if err != nil {
			t.Fatalf("TrackOf(%s): %v", d.FullName(), err)
		}
		if !ok {
			track = ""
		}
		trackCache.Store(f, track)
		c = track
	}
	if c.(string) == "" {
		return backport.Version{}, false
	}
	return cap.Get(c.(string))
}

// newerPopulated lists every populated field and enum value in m whose
// since is above its track's cap.
func newerPopulated(t testing.TB, m protoreflect.Message, cap backport.Manifest, path string) []string {
	var out []string
	cv, capped := capOf(t, m.Descriptor(), cap)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		if since, _, ok := sinceOf(t, fd); ok && capped && cv.Less(since) {
			out = append(out, fmt.Sprintf("%s (since %s, cap %s)", p, since, cv))
		}
		visit := func(p string, v protoreflect.Value, fd protoreflect.FieldDescriptor) {
			switch fd.Kind() {
			case protoreflect.MessageKind:
				out = append(out, newerPopulated(t, v.Message(), cap, p)...)
			case protoreflect.EnumKind:
				ev := fd.Enum().Values().ByNumber(v.Enum())
				if ev == nil {
					return
				}
				o, ok := backport.EnumValueOptions(ev)
				if !ok || o.GetSince() == "" {
					return
				}
				since, _ := backport.ParseVersion(o.GetSince())
				if ecv, ok := capOf(t, ev, cap); ok && ecv.Less(since) {
					out = append(out, fmt.Sprintf("%s = %s (since %s, cap %s)", p, ev.Name(), since, ecv))
				}
			}
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(fmt.Sprintf("%s[%d]", p, i), l.Get(i), fd)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				visit(fmt.Sprintf("%s[%v]", p, k), v, fd.MapValue())
				return true
			})
		default:
			visit(p, v, fd)
		}
		return true
	})
	return out
}

// reference downgrades by deep clone and clearing, the way the rules read;
// rejected reports that the rules forbid sending in.
func reference(t testing.TB, in proto.Message, cap backport.Manifest) (out proto.Message, rejected bool) {
	out = proto.Clone(in)
	return out, refWalk(t, out.ProtoReflect(), cap)
}

func refWalk(t testing.TB, m protoreflect.Message, cap backport.Manifest) (rejected bool) {
	cv, capped := capOf(t, m.Descriptor(), cap)
	var fds []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fds = append(fds, fd)
		return true
	})
	custom := false
	for _, fd := range fds {
		if since, act, ok := sinceOf(t, fd); ok && capped && cv.Less(since) && act == rollpinv1.OnDowngrade_ON_DOWNGRADE_CUSTOM {
			custom = true
		}
	}
	if custom {
		if err := volumeDowngrader(m, cap); err != nil {
			t.Fatal(err)
		}
	}
	for _, fd := range fds {
		if since, act, ok := sinceOf(t, fd); ok && capped && cv.Less(since) {
			if act == rollpinv1.OnDowngrade_ON_DOWNGRADE_REJECT {
				rejected = true
			}
			m.Clear(fd)
			continue
		}
		elem := func(v protoreflect.Value, fd protoreflect.FieldDescriptor) (protoreflect.Value, bool) {
			switch fd.Kind() {
			case protoreflect.MessageKind:
				if refWalk(t, v.Message(), cap) {
					rejected = true
				}
			case protoreflect.EnumKind:
				n, rej := refEnum(t, fd.Enum(), v.Enum(), cap)
				if rej {
					rejected = true
				}
				return protoreflect.ValueOfEnum(n), true
			}
			return v, false
		}
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for i := 0; i < l.Len(); i++ {
				if nv, set := elem(l.Get(i), fd); set {
					l.Set(i, nv)
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			var keys []protoreflect.MapKey
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys = append(keys, k); return true })
			for _, k := range keys {
				if nv, set := elem(mp.Get(k), fd.MapValue()); set {
					mp.Set(k, nv)
				}
			}
		default:
			if nv, set := elem(v, fd); set {
				m.Set(fd, nv)
			}
		}
	}
	return rejected
}

// discardUnknown removes unknown fields everywhere in m.
func discardUnknown(m protoreflect.Message) {
	m.SetUnknown(nil)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			for i := 0; i < v.List().Len(); i++ {
				discardUnknown(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind:
			v.Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
				discardUnknown(v.Message())
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Kind() == protoreflect.MessageKind:
			discardUnknown(v.Message())
		}
		return true
	})
}

func refEnum(t testing.TB, ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber, cap backport.Manifest) (protoreflect.EnumNumber, bool) {
	for range 10 {
		ev := ed.Values().ByNumber(n)
		if ev == nil {
			return n, false
		}
		o, ok := backport.EnumValueOptions(ev)
		if !ok || o.GetSince() == "" {
			return n, false
		}
		since, _ := backport.ParseVersion(o.GetSince())
		cv, capped := capOf(t, ev, cap)
		if !capped || !cv.Less(since) {
			return n, false
		}
		if o.GetDowngradeTo() == "" {
			return n, true
		}
		n = ed.Values().ByName(protoreflect.Name(o.GetDowngradeTo())).Number()
	}
	t.Fatalf("downgrade_to loop in %s", ed.FullName())
	return n, true
}

// ---- a random populator ----

// populate sets a random subset of m's fields, recursing up to depth.
func populate(r *rand.Rand, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if r.IntN(5) < 2 {
			continue
		}
		if od := fd.ContainingOneof(); od != nil && m.WhichOneof(od) != nil {
			continue
		}
		switch {
		case fd.IsList():
			if fd.Kind() == protoreflect.MessageKind && depth <= 0 {
				continue
			}
			l := m.Mutable(fd).List()
			for range r.IntN(4) {
				l.Append(randValue(r, fd, l.NewElement, depth))
			}
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind && depth <= 0 {
				continue
			}
			mp := m.Mutable(fd).Map()
			for range r.IntN(4) {
				k := randValue(r, fd.MapKey(), nil, depth).MapKey()
				mp.Set(k, randValue(r, fd.MapValue(), mp.NewValue, depth))
			}
		default:
			if fd.Kind() == protoreflect.MessageKind && depth <= 0 {
				continue
			}
			m.Set(fd, randValue(r, fd, func() protoreflect.Value { return m.NewField(fd) }, depth))
		}
	}
}

func randValue(r *rand.Rand, fd protoreflect.FieldDescriptor, newMsg func() protoreflect.Value, depth int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(r.Uint32()))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(r.Uint64()))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(r.Uint32())
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(r.Uint64())
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(r.Float32())
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(r.Float64())
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("s%d", r.IntN(1000)))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{byte(r.IntN(256)), byte(r.IntN(256))})
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(r.IntN(vals.Len())).Number())
	case protoreflect.MessageKind:
		v := newMsg()
		populate(r, v.Message(), depth-1)
		return v
	}
	panic("unsupported kind " + fd.Kind().String())
}

// randomCaps are the caps the property tests draw from.
var randomCaps = []string{
	"",
	"rollpin.testpb.svc.v1=1.4,rollpin.testpb.types.v1=2.3",
	"rollpin.testpb.svc.v1=1.3",
	"rollpin.testpb.svc.v1=1.2",
	"rollpin.testpb.svc.v1=1.0,rollpin.testpb.types.v1=2.0",
	"rollpin.testpb.types.v1=2.1",
	"rollpin.testpb.types.v1=2.2",
	"rollpin.testpb.svc.v1=1.3,rollpin.testpb.types.v1=2.2",
	"rollpin.testpb.svc.v1=1.9,rollpin.testpb.types.v1=2.9",
	"other.v1=0.1,rollpin.testpb.svc.v1=1.1",
}

// randomRoots are the message types the property tests populate.
var randomRoots = []proto.Message{
	&svcpb.Volume{}, &plainpb.Envelope{}, &svcpb.Node{}, &typespb.Label{},
}

func sortedStrings(s []string) []string { slices.Sort(s); return s }
