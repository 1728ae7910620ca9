package pinsvc

import (
	"fmt"
	"time"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// holdOnLower sets, on p, the hold a lowering SetPin asks for with
// hold_on_lower: the roll-back then stays rolled back until an operator
// releases the pin. The hold's reason is the lowering's reason, or a default
// naming the two manifests. A hold already in place is kept as it is (it
// already freezes raises, and its reason and author stay on record). It
// returns the text the SetPin answer adds.
func holdOnLower(p *rollpinv1.Pin, by, reason, from, to string, now time.Time) string {
	if h := p.GetHold(); h != nil {
		return fmt.Sprintf("; already held (%s)", h.GetReason())
	}
	if reason == "" {
		reason = fmt.Sprintf("rolled back from %s to %s", from, to)
	}
	p.Hold = &rollpinv1.PinHold{Reason: reason, By: by, At: ts(now)}
	return fmt.Sprintf("; held (%s): automatic raises are frozen until it is released", reason)
}
