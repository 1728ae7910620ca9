package pinsvc

import (
	"context"
	"testing"
	"time"

	"github.com/rollpin/rollpin/pinsvc/pinclient"
)

// newTestClient starts a pinclient.Client on endpoints and closes it when
// the test ends.
func newTestClient(t testing.TB, endpoints []string, opts ...pinclient.Option) *pinclient.Client {
	t.Helper()
	opts = append([]pinclient.Option{pinclient.WithInsecure(), pinclient.WithLogger(quietLog), pinclient.WithBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	c, err := pinclient.NewClient(endpoints, opts...)
	if err != nil {
		t.Fatalf("pinclient.NewClient: %v", err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("Client.Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitSync(t testing.TB, c *pinclient.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.WaitForSync(ctx); err != nil {
		t.Fatalf("WaitForSync: %v", err)
	}
}

// capIs reports whether c's cap of service is want.
func capIs(c *pinclient.Client, service, want string) bool {
	m, ok := c.Cap(service)
	return ok && m.String() == want
}
