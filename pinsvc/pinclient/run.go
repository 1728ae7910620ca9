package pinclient

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"google.golang.org/grpc/status"
)

// regState is where the registration stands.
type regState int

const (
	regNone      regState = iota // not built WithRegistration: watch only
	regActive                    // register on every stream
	regFenced                    // below a pin: watch until the pins allow it
	regIDTaken                   // ID held elsewhere: watch until it is free
	regAbandoned                 // refused for good: watch only
)

// errReadmit ends a watch stream so that a refused instance registers again:
// what refused it has changed.
var errReadmit = errors.New("pinclient: registration possible again")

// outage tracks the connection for the logs: one WARN per outage with the
// fix, quiet retries, and one INFO when a stream delivers again.
type outage struct {
	warned   bool      // the current outage was reported
	since    time.Time // start of the current outage
	attempts int       // failed attempts in the current outage
}

// failed records a failed attempt to reach pind.
func (c *Client) failed(o *outage, endpoint string, err error) {
	o.attempts++
	if o.warned {
		c.o.logger.Debug("pinclient: pind still unreachable", "endpoint", endpoint, "err", err)
		return
	}
	o.warned, o.since = true, time.Now()
	c.o.logger.Warn(fmt.Sprintf("pinclient: cannot reach pind: is pind running at %s? start it with `pind` or pass its address to pinclient.NewClient; retrying quietly until it answers",
		strings.Join(c.endpoints, ", ")), "err", status.Convert(err).Message())
}

// lost records the end of a stream that had delivered updates.
func (c *Client) lost(o *outage, endpoint string, err error) {
	*o = outage{warned: true, since: time.Now()}
	c.o.logger.Warn("pinclient: lost pind; reconnecting, serving the last known pins meanwhile",
		"endpoint", endpoint, "err", status.Convert(err).Message())
}

// connected records a stream's first update.
func (c *Client) connected(o *outage, endpoint string, register bool) {
	c.o.metrics.Connected(endpoint, register)
	if o.warned {
		c.o.logger.Info("pinclient: connected to pind", "endpoint", endpoint, "register", register,
			"after", time.Since(o.since).Round(time.Millisecond).String(), "failed_attempts", o.attempts)
	} else {
		c.o.logger.Info("pinclient: connected to pind", "endpoint", endpoint, "register", register)
	}
	*o = outage{}
}

// run holds a stream to one pind after another until Close.
func (c *Client) run() {
	defer c.wg.Done()
	state := regNone
	if c.o.reg != nil {
		state = regActive
	}
	var o outage
	attempt, ep, quick := 0, 0, 0
	for {
		register := state == regActive
		progressed, err := c.stream(ep, register, &state, &o)
		if c.ctx.Err() != nil {
			return
		}
		c.o.metrics.Disconnected(c.endpoints[ep], err)
		var d time.Duration
		switch {
		case errors.Is(err, errReadmit):
			c.o.logger.Info("pinclient: registering again: what refused the instance has changed", "id", c.o.reg.ID)
			attempt = 0 // same endpoint, at once
		case progressed:
			c.lost(&o, c.endpoints[ep], err)
			// A stream that worked broke: try every endpoint once at
			// once (jittered, so that a fleet does not arrive together),
			// to register again before the old pind's lease expires.
			attempt, quick = 0, len(c.endpoints)
			ep = (ep + 1) % len(c.conns)
			d = c.quickDelay()
			quick--
		case register && classify(err) != transient:
			c.registrationRefused(err, &state) // watch at once, same endpoint
		case !register && classify(err) == permanent:
			c.refuse(err)
			c.o.logger.Error("pinclient: pind refused to stream pins; giving up (Cap keeps the last known pins)",
				"endpoint", c.endpoints[ep], "err", status.Convert(err).Message())
			return
		default:
			c.failed(&o, c.endpoints[ep], err)
			ep = (ep + 1) % len(c.conns)
			if quick > 0 {
				quick--
				d = c.quickDelay()
			} else {
				d = c.backoff(attempt)
				attempt++
			}
		}
		t := time.NewTimer(d)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// quickFailover bounds the jitter of the attempts made at once after a
// working stream broke.
const quickFailover = 100 * time.Millisecond

// quickDelay is the jitter before one of the attempts made at once after a
// working stream broke: up to the backoff base, at most quickFailover.
func (c *Client) quickDelay() time.Duration {
	return rand.N(min(c.o.backoffBase, quickFailover) + 1)
}

// backoff returns the delay before attempt n (0-based): base·2ⁿ capped at
// max, jittered to a uniformly random value in [d/2, d].
func (c *Client) backoff(n int) time.Duration {
	d := c.o.backoffBase
	for i := 0; i < n && d < c.o.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.o.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// registrationRefused records a Register that pind refused before its first
// update. None of these is retried as such: a fenced instance registers
// again once the pins no longer fence it, one whose ID is taken once that ID
// has left every service it registers, and the others (INVALID_ARGUMENT,
// UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED, OUT_OF_RANGE) never;
// meanwhile the client watches the pins, so that its own calls stay capped.
func (c *Client) registrationRefused(err error, state *regState) {
	rerr := &RegistrationError{ID: c.o.reg.ID, Err: err}
	msg := status.Convert(err).Message()
	switch classify(err) {
	case fenced:
		*state = regFenced
		c.o.logger.Error("pinclient: pind refused the registration: this build is below the pin; watching pins until they allow it",
			"id", c.o.reg.ID, "manifest", c.o.reg.Manifest.String(), "err", msg)
	case idTaken:
		*state = regIDTaken
		c.o.logger.Error("pinclient: pind refused the registration: another live instance holds this ID; registering once it is gone (give every instance its own ID)",
			"id", c.o.reg.ID, "err", msg)
	default:
		*state = regAbandoned
		c.o.logger.Error("pinclient: pind refused the registration for good; not retrying it, watching pins only (fix the request or the credentials and restart)",
			"id", c.o.reg.ID, "code", status.Code(err), "err", msg)
	}
	c.refuse(rerr)
}

// refuse records err for Err, WaitForSync and WithOnError.
func (c *Client) refuse(err error) {
	c.setErr(err)
	c.refusedOnce.Do(func() { close(c.refused) })
	if c.o.onError != nil {
		c.o.onError(err)
	}
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}
