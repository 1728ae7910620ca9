package dbgate

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func svcState(name, pin string, insts ...string) *rollpinv1.ServiceState {
	s := &rollpinv1.ServiceState{Service: name}
	if pin != "" {
		s.Pin = &rollpinv1.Pin{Manifest: pin}
	}
	for i := 0; i+1 < len(insts); i += 2 {
		s.Instances = append(s.Instances, &rollpinv1.Instance{Id: insts[i], Manifest: insts[i+1]})
	}
	return s
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	after, _ := backport.ParseManifest("acme.volume.v1=1.4")
	tests := []struct {
		name     string
		services []*rollpinv1.ServiceState
		want     []string // blockers
		err      error
	}{
		{"reached", []*rollpinv1.ServiceState{svcState("a.S", "acme.volume.v1=1.4", "i1", "acme.volume.v1=1.5")}, nil, nil},
		{"pin below", []*rollpinv1.ServiceState{svcState("a.S", "acme.volume.v1=1.3", "i1", "acme.volume.v1=1.4")}, []string{"pin of a.S is acme.volume.v1=1.3"}, nil},
		{"instance below", []*rollpinv1.ServiceState{svcState("a.S", "acme.volume.v1=1.4", "i1", "acme.volume.v1=1.4", "i0", "acme.volume.v1=1.3")}, []string{"instance i0 of a.S runs acme.volume.v1=1.3"}, nil},
		{"other services that use the track count too", []*rollpinv1.ServiceState{
			svcState("a.S", "acme.volume.v1=1.4"),
			svcState("b.Client", "", "c1", "acme.volume.v1=1.2,b.v1=1.0"),
		}, []string{"instance c1 of b.Client runs acme.volume.v1=1.2"}, nil},
		{"a service that does not use the track is ignored", []*rollpinv1.ServiceState{
			svcState("a.S", "acme.volume.v1=1.4"),
			svcState("b.S", "b.v1=0.1", "x", "b.v1=0.1"),
		}, nil, nil},
		{"unknown track", []*rollpinv1.ServiceState{svcState("b.S", "b.v1=1.0")}, nil, ErrUnknownTrack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Evaluate(tt.services, after)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Evaluate error = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			var got []string
			for _, b := range v.Blockers {
				got = append(got, b.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || v.Reached != (len(tt.want) == 0) {
				t.Errorf("Evaluate blockers (-want +got):\n%s reached=%v", diff, v.Reached)
			}
		})
	}
}
