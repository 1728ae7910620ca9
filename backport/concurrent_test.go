package backport_test

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rollpin/rollpin/backport"
)

// TestConcurrent compiles plans and downgrades and fills shared inputs
// from many goroutines at once (run with -race), while hooks change.
func TestConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var inputs []proto.Message
	for i := range 40 {
		m := randomRoots[i%len(randomRoots)].ProtoReflect().Type().New()
		populate(r, m, 3)
		inputs = append(inputs, m.Interface())
	}
	// Fresh descriptors, so that plans are compiled while others run.
	files := buildFiles(t, file("conc/a.proto", "conc.v1", fileOpts(t, "1.2", encUnknown), nil,
		[]*descriptorpb.DescriptorProto{{
			Name:  strPtr("M"),
			Field: []*descriptorpb.FieldDescriptorProto{field("x", 1, tString, fieldOpts(t, sinceOnly("1.2"), encUnknown)), msgField("self", 2, ".conc.v1.M", nil)},
		}}))
	md := findMessage(t, files, "conc.v1.M")
	caps := []backport.Manifest{mustCap(t, svcCap13), mustCap(t, typesCap21), mustCap(t, "rollpin.testpb.svc.v1=1.1,conc.v1=1.1")}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, in := range inputs {
				cap := caps[(i+g)%len(caps)]
				if _, err := backport.Downgrade(in, cap); err != nil {
					var re *backport.RejectError
					if !asReject(err, &re) {
						t.Errorf("Downgrade: %v", err)
						return
					}
				}
				c := proto.Clone(in)
				if err := backport.FillDefaults(c, cap); err != nil {
					t.Errorf("FillDefaults: %v", err)
					return
				}
				if err := backport.CheckMessage(md); err != nil {
					t.Errorf("CheckMessage: %v", err)
					return
				}
				if g == 0 && i%10 == 0 {
					backport.RegisterUpgrader("conc.v1.M", nil)
				}
			}
		}()
	}
	wg.Wait()
}

func asReject(err error, re **backport.RejectError) bool { return errors.As(err, re) }
