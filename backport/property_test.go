package backport_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/backport/backporttest/svcpb"
)

// checkDowngradeInvariants runs Downgrade(in, cap) and checks every
// property the engine promises against the independent model in
// helpers_test.go. It reports whether Downgrade rejected in.
func checkDowngradeInvariants(t *testing.T, e *backport.Engine, in proto.Message, cap backport.Manifest, label string) bool {
	t.Helper()
	before := proto.Clone(in)
	out, err := e.Downgrade(in, cap)
	if !proto.Equal(in, before) {
		t.Fatalf("%s: Downgrade mutated its input", label)
	}
	ref, refRejected := reference(t, in, cap)
	var re *backport.RejectError
	if errors.As(err, &re) {
		if !refRejected {
			t.Fatalf("%s: Downgrade rejected (%v) but the rules allow sending %v", label, err, in)
		}
		return true
	}
	if err != nil {
		t.Fatalf("%s: Downgrade() error = %v", label, err)
	}
	if refRejected {
		t.Fatalf("%s: Downgrade accepted a message the rules reject: %v", label, in)
	}
	if newer := newerPopulated(t, out.ProtoReflect(), cap, ""); len(newer) > 0 {
		t.Fatalf("%s: populated above the cap after Downgrade: %v", label, newer)
	}
	gotCmp, refCmp := proto.Clone(out), proto.Clone(ref)
	discardUnknown(gotCmp.ProtoReflect())
	discardUnknown(refCmp.ProtoReflect())
	if !proto.Equal(refCmp, gotCmp) {
		diff := cmp.Diff(refCmp, gotCmp, protocmp.Transform())
		t.Fatalf("%s: Downgrade differs from the reference (-want +got):\n%s", label, diff)
	}
	inCmp := proto.Clone(in)
	discardUnknown(inCmp.ProtoReflect())
	// Without unknown fields anywhere (they are dropped from visited
	// messages), nothing newer means the very same message back.
	if proto.Equal(inCmp, refCmp) && proto.Equal(inCmp, in) && out != in {
		t.Fatalf("%s: nothing was newer than the cap but Downgrade returned a new message", label)
	}
	again, err := e.Downgrade(out, cap)
	if err != nil || again != out {
		t.Fatalf("%s: Downgrade is not idempotent: %v, %v", label, again, err)
	}
	return false
}

// TestDowngradeProperties: over many random messages of both worlds and
// many caps, Downgrade never mutates its input, leaves nothing above the
// cap, keeps everything at or below it exactly, is idempotent, and returns
// the input itself when nothing is newer.
func TestDowngradeProperties(t *testing.T) {
	n := 400
	if testing.Short() || raceEnabled {
		n = 80
	}
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(w.name))))
			rejected, same := 0, 0
			for i := range n {
				root := randomRoots[i%len(randomRoots)]
				gen := root.ProtoReflect().Type().New()
				populate(r, gen, 4)
				in := w.in(t, gen.Interface())
				for _, c := range randomCaps {
					cap := mustCap(t, c)
					label := fmt.Sprintf("message %d (%s) cap %q", i, gen.Descriptor().Name(), c)
					if checkDowngradeInvariants(t, w.eng(), in, cap, label) {
						rejected++
					} else if out, _ := w.eng().Downgrade(in, cap); out == in {
						same++
					}
				}
			}
			// The generator must exercise every outcome.
			total := n * len(randomCaps)
			if rejected == 0 || same == 0 || rejected+same == total {
				t.Errorf("weak generator: %d rejected, %d unchanged of %d", rejected, same, total)
			}
		})
	}
}

// FuzzDowngrade unmarshals arbitrary bytes into the test API's request and
// checks the Downgrade invariants at several caps.
func FuzzDowngrade(f *testing.F) {
	seed := func(m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	seed(&svcpb.Volume{Name: "v", Zone: "z", Kind: svcpb.Kind_KIND_NVME})
	seed(withUnknown(&svcpb.Volume{Spec: &svcpb.Spec{Note: "n", Encryption: &svcpb.Encryption{}}}))
	seed(&svcpb.Volume{Tree: &svcpb.Node{Left: &svcpb.Node{Extra: "x", Children: []*svcpb.Node{{Extra: "y"}}}}})
	r := rand.New(rand.NewPCG(7, 7))
	for range 8 {
		m := (&svcpb.Volume{}).ProtoReflect()
		populate(r, m, 3)
		seed(m.Interface())
	}
	caps := []string{"rollpin.testpb.svc.v1=1.3", "rollpin.testpb.svc.v1=1.1,rollpin.testpb.types.v1=2.1", "rollpin.testpb.types.v1=2.2"}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := &svcpb.Volume{}
		if err := proto.Unmarshal(b, in); err != nil {
			return
		}
		for _, c := range caps {
			checkDowngradeInvariants(t, backport.Default(), in, mustCap(t, c), "cap "+c)
		}
	})
}
