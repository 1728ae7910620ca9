package compattest

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/compat"
)

// Option tunes RoundTrip.
type Option func(*rtOptions)

type rtOptions struct {
	count    int
	seed     uint64
	seedSet  bool
	maxDepth int
}

// WithCount sets how many random messages RoundTrip generates per message
// type and direction (default 200).
func WithCount(n int) Option { return func(o *rtOptions) { o.count = n } }

// WithSeed makes RoundTrip reproducible: it generates from seed instead of a
// time-based seed. Failures print the seed to pass here.
func WithSeed(seed uint64) Option { return func(o *rtOptions) { o.seed, o.seedSet = seed, true } }

// WithMaxDepth bounds the nesting of generated messages (default 4), which
// also ends recursion through cyclic types.
func WithMaxDepth(d int) Option { return func(o *rtOptions) { o.maxDepth = d } }

// RoundTrip asserts that messages survive a trip between the current release
// (cur) and the previous one (prev), both descriptor sets or buf images.
//
// For every message type reachable from every method of cur that prev also
// has, it generates random messages at the current version (never populating
// a field newer than prev whose on_downgrade is REJECT or CUSTOM, which
// cannot be sent to prev by design), downgrades each to prev's manifest,
// encodes it, decodes it with prev's descriptors and fails when the old side
// sees an unknown field or an enum value it does not define; then it
// re-encodes the old message, decodes it at the current version, fills
// defaults for a prev sender and fails unless every field prev knows is
// exactly what was sent (an enum value newer than prev replaced by its
// downgrade_to) and every newer field holds its declared default, or is
// absent when it declares none. In the reverse direction it generates random
// messages with prev's descriptors, decodes them at the current version,
// fills defaults and checks the same. Failures go to t.Errorf and name the
// message type, the field, and the seed to pass to WithSeed; RoundTrip
// reports at most one failure per message type and direction. A passing run
// logs how many fields the engine dropped, rewrote and filled.
func RoundTrip(t testing.TB, prev, cur *descriptorpb.FileDescriptorSet, opts ...Option) {
	t.Helper()
	o := rtOptions{count: 200, maxDepth: 4}
	for _, opt := range opts {
		opt(&o)
	}
	if !o.seedSet {
		o.seed = uint64(time.Now().UnixNano())
	}
	pf, err := compat.NewFiles(prev)
	if err != nil {
		t.Errorf("compattest.RoundTrip: previous: %v", err)
		return
	}
	cf, err := compat.NewFiles(cur)
	if err != nil {
		t.Errorf("compattest.RoundTrip: current: %v", err)
		return
	}
	// The current release's messages are dynamic: an engine of their own
	// finds their package declarations, without touching the default
	// engine or any global registry.
	eng := backport.New(backport.WithFiles(cf))
	prevManifest, err := backport.ManifestOfFiles(pf)
	if err != nil {
		t.Errorf("compattest.RoundTrip: previous manifest: %v", err)
		return
	}
	types := reachableTypes(cf)
	if len(types) == 0 {
		t.Errorf("compattest.RoundTrip: the current schema has no method, so no message type to test")
		return
	}
	tested := 0
	st := &stats{}
	for _, md := range types {
		d, err := pf.FindDescriptorByName(md.FullName())
		if err != nil {
			continue // new in cur: only reached through a newer field or method
		}
		pmd, ok := d.(protoreflect.MessageDescriptor)
		if !ok {
			continue
		}
		tested++
		rt := roundTripper{eng: eng, prevManifest: prevManifest, cur: md, prev: pmd, stats: st}
		seed := o.seed ^ nameHash(md.FullName())
		g := &generator{rng: rand.New(rand.NewPCG(seed, 1)), maxDepth: o.maxDepth}
		for i := range o.count {
			if err := rt.forward(g.message(md, pmd, 0)); err != nil {
				t.Errorf("compattest.RoundTrip: %s downgraded to %s, message %d: %v (seed %d: rerun with compattest.WithSeed(%d))",
					md.FullName(), prevManifest, i, err, o.seed, o.seed)
				break
			}
		}
		g = &generator{rng: rand.New(rand.NewPCG(seed, 2)), maxDepth: o.maxDepth}
		for i := range o.count {
			if err := rt.backward(g.message(pmd, nil, 0)); err != nil {
				t.Errorf("compattest.RoundTrip: %s sent by %s, message %d: %v (seed %d: rerun with compattest.WithSeed(%d))",
					md.FullName(), prevManifest, i, err, o.seed, o.seed)
				break
			}
		}
	}
	if tested == 0 {
		t.Errorf("compattest.RoundTrip: no message type reachable from a method exists in both releases")
		return
	}
	t.Logf("compattest.RoundTrip: %d message types, %d messages each way, seed %d: Downgrade dropped %d fields and rewrote %d enum values; FillDefaults set %d fields",
		tested, o.count, o.seed, st.dropped, st.enums, st.filled)
}

func nameHash(n protoreflect.FullName) uint64 {
	h := fnv.New64a()
	h.Write([]byte(n))
	return h.Sum64()
}

// reachableTypes returns every message type reachable from the requests and
// responses of the methods in files, sorted by name.
func reachableTypes(files *protoregistry.Files) []protoreflect.MessageDescriptor {
	seen := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if _, ok := seen[md.FullName()]; ok {
			return
		}
		if !md.IsMapEntry() {
			seen[md.FullName()] = md
		}
		for i := 0; i < md.Fields().Len(); i++ {
			if sub := md.Fields().Get(i).Message(); sub != nil {
				walk(sub)
			}
		}
	}
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			ms := fd.Services().Get(i).Methods()
			for j := 0; j < ms.Len(); j++ {
				walk(ms.Get(j).Input())
				walk(ms.Get(j).Output())
			}
		}
		return true
	})
	out := make([]protoreflect.MessageDescriptor, 0, len(seen))
	for _, md := range seen {
		out = append(out, md)
	}
	slices.SortFunc(out, func(a, b protoreflect.MessageDescriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	return out
}

type roundTripper struct {
	eng          *backport.Engine
	prevManifest backport.Manifest
	cur, prev    protoreflect.MessageDescriptor
	stats        *stats
}

// stats counts what the engine changed, so a run shows it exercised
// something.
type stats struct {
	dropped, enums, filled int
}

func (s *stats) FieldDropped(protoreflect.FieldDescriptor) { s.dropped++ }
func (s *stats) EnumDowngraded(protoreflect.FieldDescriptor, protoreflect.EnumValueDescriptor, protoreflect.EnumValueDescriptor) {
	s.enums++
}
func (s *stats) DefaultFilled(protoreflect.FieldDescriptor) { s.filled++ }

// forward sends m (current version) to the previous release and back.
func (rt roundTripper) forward(m *dynamicpb.Message) error {
	down, err := rt.eng.DowngradeObserved(m, rt.prevManifest, rt.stats)
	if err != nil {
		return fmt.Errorf("backport.Downgrade: %w", err)
	}
	b, err := proto.Marshal(down)
	if err != nil {
		return fmt.Errorf("encode downgraded: %w", err)
	}
	old := dynamicpb.NewMessage(rt.prev)
	if err := proto.Unmarshal(b, old); err != nil {
		return fmt.Errorf("decode with the previous descriptors: %w", err)
	}
	if err := foreign(old, rt.cur, ""); err != nil {
		return err
	}
	b, err = proto.Marshal(old)
	if err != nil {
		return fmt.Errorf("re-encode at the previous version: %w", err)
	}
	up := dynamicpb.NewMessage(rt.cur)
	if err := proto.Unmarshal(b, up); err != nil {
		return fmt.Errorf("decode with the current descriptors: %w", err)
	}
	if err := rt.eng.FillDefaultsObserved(up, rt.prevManifest, rt.stats); err != nil {
		return fmt.Errorf("FillDefaults: %w", err)
	}
	return compare(up, m, rt.prev, "", true)
}

// backward sends old (previous version) to the current release.
func (rt roundTripper) backward(old *dynamicpb.Message) error {
	b, err := proto.Marshal(old)
	if err != nil {
		return fmt.Errorf("encode at the previous version: %w", err)
	}
	up := dynamicpb.NewMessage(rt.cur)
	if err := proto.Unmarshal(b, up); err != nil {
		return fmt.Errorf("decode with the current descriptors: %w", err)
	}
	if err := rt.eng.FillDefaultsObserved(up, rt.prevManifest, rt.stats); err != nil {
		return fmt.Errorf("FillDefaults: %w", err)
	}
	return compare(up, old, rt.prev, "", false)
}

// foreign fails when old (a message decoded with the previous descriptors)
// holds something the previous release does not define: unknown fields, or
// enum numbers its enums lack. cur is the same message in the current
// release, used to name what leaked.
func foreign(old protoreflect.Message, cur protoreflect.MessageDescriptor, path string) error {
	if raw := old.GetUnknown(); len(raw) > 0 {
		var names []string
		for _, n := range fieldNumbers(raw) {
			name := fmt.Sprintf("field %d", n)
			if cur != nil {
				if fd := cur.Fields().ByNumber(n); fd != nil {
					name = fmt.Sprintf("%s (%d)", fd.FullName(), n)
				}
			}
			names = append(names, name)
		}
		return fmt.Errorf("%sthe previous release received %s, which it does not know: Downgrade left it in; "+
			"give it a since above the previous version", at(path), strings.Join(names, ", "))
	}
	var err error
	old.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		var cfd protoreflect.FieldDescriptor
		if cur != nil {
			cfd = cur.Fields().ByNumber(fd.Number())
		}
		p := join(path, fd)
		check := func(v protoreflect.Value, fd protoreflect.FieldDescriptor, cfd protoreflect.FieldDescriptor) error {
			switch {
			case fd.Enum() != nil:
				if fd.Enum().Values().ByNumber(v.Enum()) == nil {
					name := fmt.Sprintf("%d", v.Enum())
					if cfd != nil && cfd.Enum() != nil {
						if ev := cfd.Enum().Values().ByNumber(v.Enum()); ev != nil {
							name = string(ev.FullName())
						}
					}
					return fmt.Errorf("field %s: the previous release received enum value %s, which it does not define: "+
						"give the value a since above the previous version and a downgrade_to", p, name)
				}
			case fd.Message() != nil:
				var sub protoreflect.MessageDescriptor
				if cfd != nil {
					sub = cfd.Message()
				}
				return foreign(v.Message(), sub, p)
			}
			return nil
		}
		switch {
		case fd.IsMap():
			var cv protoreflect.FieldDescriptor
			if cfd != nil && cfd.IsMap() {
				cv = cfd.MapValue()
			}
			v.Map().Range(func(_ protoreflect.MapKey, x protoreflect.Value) bool {
				err = check(x, fd.MapValue(), cv)
				return err == nil
			})
		case fd.IsList():
			for i := 0; i < v.List().Len() && err == nil; i++ {
				err = check(v.List().Get(i), fd, cfd)
			}
		default:
			err = check(v, fd, cfd)
		}
		return err == nil
	})
	return err
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return "in " + path + ": "
}

func join(path string, fd protoreflect.FieldDescriptor) string {
	if path == "" {
		return string(fd.FullName())
	}
	return path + "." + string(fd.Name())
}

func fieldNumbers(raw []byte) []protoreflect.FieldNumber {
	var out []protoreflect.FieldNumber
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			break
		}
		raw = raw[n:]
		m := protowire.ConsumeFieldValue(num, typ, raw)
		if m < 0 {
			break
		}
		raw = raw[m:]
		if !slices.Contains(out, num) {
			out = append(out, num)
		}
	}
	return out
}

// compare checks got (current descriptors, after FillDefaults) against sent
// (what the sender populated: a current message when forward, a previous
// one otherwise). prev is the message type in the previous release: fields
// it has must come through exactly (forward: enum values newer than prev
// mapped by downgrade_to); fields it lacks must hold their declared default
// or be absent.
func compare(got, sent protoreflect.Message, prev protoreflect.MessageDescriptor, path string, forward bool) error {
	cur := got.Descriptor()
	for i := 0; i < cur.Fields().Len(); i++ {
		fd := cur.Fields().Get(i)
		p := join(path, fd)
		pfd := prev.Fields().ByNumber(fd.Number())
		if pfd == nil || !sameShape(fd, pfd) {
			if err := checkNewer(got, fd, p); err != nil {
				return err
			}
			continue
		}
		sfd := fd
		if !forward {
			sfd = pfd
		}
		if got.Has(fd) != sent.Has(sfd) {
			if !got.Has(fd) {
				return fmt.Errorf("field %s: the previous release knows it but it was lost on the way", p)
			}
			return fmt.Errorf("field %s: set on arrival but not sent (FillDefaults must not touch a field the sender knew)", p)
		}
		if !got.Has(fd) {
			continue
		}
		if err := compareValue(got.Get(fd), sent.Get(sfd), fd, pfd, p, forward); err != nil {
			return err
		}
	}
	return nil
}

func sameShape(fd, pfd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == pfd.Kind() && fd.IsList() == pfd.IsList() && fd.IsMap() == pfd.IsMap()
}

func compareValue(got, sent protoreflect.Value, fd, pfd protoreflect.FieldDescriptor, p string, forward bool) error {
	switch {
	case fd.IsMap():
		gm, sm := got.Map(), sent.Map()
		if gm.Len() != sm.Len() {
			return fmt.Errorf("field %s: %d map entries arrived, %d sent", p, gm.Len(), sm.Len())
		}
		var err error
		sm.Range(func(k protoreflect.MapKey, sv protoreflect.Value) bool {
			if !gm.Has(k) {
				err = fmt.Errorf("field %s: key %v lost", p, k)
				return false
			}
			err = compareOne(gm.Get(k), sv, fd.MapValue(), pfd.MapValue(), fmt.Sprintf("%s[%v]", p, k), forward)
			return err == nil
		})
		return err
	case fd.IsList():
		gl, sl := got.List(), sent.List()
		if gl.Len() != sl.Len() {
			return fmt.Errorf("field %s: %d elements arrived, %d sent", p, gl.Len(), sl.Len())
		}
		for i := 0; i < gl.Len(); i++ {
			if err := compareOne(gl.Get(i), sl.Get(i), fd, pfd, fmt.Sprintf("%s[%d]", p, i), forward); err != nil {
				return err
			}
		}
		return nil
	}
	return compareOne(got, sent, fd, pfd, p, forward)
}

func compareOne(got, sent protoreflect.Value, fd, pfd protoreflect.FieldDescriptor, p string, forward bool) error {
	switch {
	case fd.Message() != nil:
		return compare(got.Message(), sent.Message(), pfd.Message(), p, forward)
	case fd.Enum() != nil:
		want := sent.Enum()
		if forward {
			var err error
			if want, err = downgradeEnum(fd.Enum(), pfd.Enum(), want); err != nil {
				return fmt.Errorf("field %s: %w", p, err)
			}
		}
		if got.Enum() != want {
			return fmt.Errorf("field %s: enum %d arrived, want %d", p, got.Enum(), want)
		}
		return nil
	case fd.Kind() == protoreflect.BytesKind:
		if !bytes.Equal(got.Bytes(), sent.Bytes()) {
			return fmt.Errorf("field %s: %q arrived, %q sent", p, got.Bytes(), sent.Bytes())
		}
		return nil
	}
	if !got.Equal(sent) {
		return fmt.Errorf("field %s: %v arrived, %v sent", p, got, sent)
	}
	return nil
}

// downgradeEnum follows downgrade_to from n until a value the previous enum
// defines.
func downgradeEnum(cur, prev protoreflect.EnumDescriptor, n protoreflect.EnumNumber) (protoreflect.EnumNumber, error) {
	for range cur.Values().Len() + 1 {
		if prev.Values().ByNumber(n) != nil {
			return n, nil
		}
		v := cur.Values().ByNumber(n)
		if v == nil {
			return n, nil // an open enum's unknown number passes through
		}
		o := enumValueOptions(v)
		to := cur.Values().ByName(protoreflect.Name(o.GetDowngradeTo()))
		if to == nil {
			return 0, fmt.Errorf("enum value %s is unknown to the previous release and names no downgrade_to", v.FullName())
		}
		n = to.Number()
	}
	return 0, errors.New("downgrade_to values form a cycle")
}

// checkNewer checks a field the previous release lacks, after FillDefaults:
// it holds its declared default, or is absent when it declares none (or when
// another member of its oneof is set).
func checkNewer(got protoreflect.Message, fd protoreflect.FieldDescriptor, p string) error {
	o := fieldOptions(fd)
	text := o.GetDefault()
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		if w := got.WhichOneof(od); w != nil && w.Number() != fd.Number() {
			text = ""
		}
	}
	if text == "" {
		if got.Has(fd) {
			return fmt.Errorf("field %s is newer than the previous release and declares no default, but arrived set to %v", p, got.Get(fd))
		}
		return nil
	}
	want, err := parseDefault(fd, text)
	if err != nil {
		return fmt.Errorf("field %s: default %q: %w", p, text, err)
	}
	if !got.Has(fd) {
		// An implicit-presence scalar equal to its zero value reads as unset.
		if !fd.HasPresence() && want.Equal(fd.Default()) {
			return nil
		}
		return fmt.Errorf("field %s is newer than the previous release: want its default %q filled, got nothing (is its since above the previous version?)", p, text)
	}
	gv := got.Get(fd)
	if fd.Message() != nil {
		if !proto.Equal(gv.Message().Interface(), want.Message().Interface()) {
			return fmt.Errorf("field %s: default %q arrived as %v", p, text, gv)
		}
		return nil
	}
	if !gv.Equal(want) {
		return fmt.Errorf("field %s: default %q arrived as %v", p, text, gv)
	}
	return nil
}
