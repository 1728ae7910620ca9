package pinsvc

import (
	"context"
	"fmt"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// MaxExpectedInstances bounds SetExpectedRequest.expected_instances.
const MaxExpectedInstances = 1 << 20

// SetExpected sets how many live instances a service should have; see the
// PinService contract.
func (s *Server) SetExpected(ctx context.Context, req *rollpinv1.SetExpectedRequest) (*rollpinv1.SetExpectedResponse, error) {
	n := req.GetExpectedInstances()
	if n > MaxExpectedInstances {
		return nil, invalid("expected_instances %d is above the limit %d", n, MaxExpectedInstances)
	}
	st, err := s.modifyPin(ctx, "SetExpected", req.GetService(), req.GetExpectedRevision(), func(p *rollpinv1.Pin, by string) (bool, error) {
		if p.GetExpectedInstances() == n && p.GetRaiseBelowExpected() == req.GetRaiseBelowExpected() {
			return false, nil
		}
		p.ExpectedInstances = n
		p.RaiseBelowExpected = req.GetRaiseBelowExpected()
		p.Reason = fmt.Sprintf("expect %d instances", n)
		s.log.Info("expected instances set", "service", req.GetService(), "expected", n, "raise_below_expected", req.GetRaiseBelowExpected(), "by", by)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &rollpinv1.SetExpectedResponse{State: st}, nil
}

// expectedBlocks returns the raise status of a service whose pin expects
// more live instances than it has (and does not allow raising below), and
// whether it applies. The controller then leaves the pin where it is: a
// crashed instance of the old version may come back.
func expectedBlocks(v *ServiceView, behind []string) (*rollpinv1.RaiseStatus, bool) {
	want := v.Pin.GetExpectedInstances()
	if want == 0 || v.Pin.GetRaiseBelowExpected() || uint32(len(v.Instances)) >= want {
		return nil, false
	}
	return &rollpinv1.RaiseStatus{
		State: rollpinv1.RaiseState_RAISE_STATE_BLOCKED,
		Reason: fmt.Sprintf("%d of %d expected instances are live: the pin stays until the missing ones return (pindctl expect %s %d --allow-raise to raise anyway)",
			len(v.Instances), want, v.Name, want),
		BlockingInstances: behind,
	}, true
}
