package interceptor_test

import (
	"sync"
	"testing"

	"github.com/rollpin/rollpin/interceptor"
	itestv1 "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

func TestPinChangeTakesEffectOnNextCall(t *testing.T) {
	t.Parallel()
	srv, dial := startNew(t, bufNet)
	pins := interceptor.NewAtomicPins(interceptor.StaticPins{service: v12})
	cli := itestv1.NewVolumeServiceClient(dial(rollpinClient(pins)...))

	for i, step := range []struct {
		pins      interceptor.StaticPins
		wantLabel string
		wantThin  bool
	}{
		{interceptor.StaticPins{service: v12}, "gold", false},
		{interceptor.StaticPins{service: v11}, "", true}, // label dropped, thin filled by the server
		{interceptor.StaticPins{service: v12}, "gold", false},
		{interceptor.StaticPins{}, "gold", false}, // no pin: uncapped
	} {
		pins.Store(step.pins)
		if _, err := cli.Create(t.Context(), newRequest()); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := srv.got.last(t).(*itestv1.CreateRequest)
		if got.GetLabel() != step.wantLabel || got.GetThin() != step.wantThin {
			t.Errorf("step %d (pins %v): server got label %q thin %v, want %q %v",
				i, step.pins, got.GetLabel(), got.GetThin(), step.wantLabel, step.wantThin)
		}
	}
}

func TestPinChangeUnderConcurrentCalls(t *testing.T) {
	t.Parallel()
	srv, dial := startNew(t, bufNet)
	pins := interceptor.NewAtomicPins(interceptor.StaticPins{service: v12})
	cc := dial(rollpinClient(pins)...)
	cli := itestv1.NewVolumeServiceClient(cc)

	const workers, calls = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for range workers {
		wg.Go(func() {
			for range calls {
				if _, err := cli.Create(t.Context(), newRequest()); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := 0; i < 200; i++ {
		if i%2 == 0 {
			pins.Store(interceptor.StaticPins{service: v11})
		} else {
			pins.Store(interceptor.StaticPins{service: v12})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	srv.got.mu.Lock()
	defer srv.got.mu.Unlock()
	if len(srv.got.msgs) != workers*calls {
		t.Fatalf("server received %d requests, want %d", len(srv.got.msgs), workers*calls)
	}
	for i, m := range srv.got.msgs {
		r := m.(*itestv1.CreateRequest)
		capped := len(srv.got.md[i].Get(interceptor.HeaderCap)) > 0
		if capped && (r.GetLabel() != "" || !r.GetThin() || r.GetTier() != itestv1.Tier_TIER_SSD) {
			t.Errorf("request %d sent under a 1.1 cap arrived as %v", i, r)
		}
		if !capped && (r.GetLabel() != "gold" || r.GetThin() || r.GetTier() != itestv1.Tier_TIER_NVME) {
			t.Errorf("request %d sent uncapped arrived as %v", i, r)
		}
	}
}
