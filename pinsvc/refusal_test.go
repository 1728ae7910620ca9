package pinsvc

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Every refusal pind makes carries a google.rpc.ErrorInfo in domain
// rollpin.dev with a stable reason, so programs need not parse messages.
func TestRefusalsCarryErrorInfo(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli, WithAdminToken("adm"))
	c := ts.cli
	pin, err := c.SetPin(withToken(ctxT(t), "adm"), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.3", Force: true})
	if err != nil {
		t.Fatalf("SetPin: %v", err)
	}
	rev := pin.GetState().GetPinRevision()
	for _, tc := range []struct {
		name   string
		call   func() error
		code   codes.Code
		reason string
	}{
		{"SetPin without credentials", func() error {
			_, err := c.SetPin(ctxT(t), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.2"})
			return err
		}, codes.Unauthenticated, refusal.CredentialsMissing},
		{"SetPin with a wrong token", func() error {
			_, err := c.SetPin(withToken(ctxT(t), "guess"), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.2"})
			return err
		}, codes.PermissionDenied, refusal.CredentialsRejected},
		{"SetPin at a stale revision", func() error {
			if _, err := c.SetPin(withToken(ctxT(t), "adm"), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.2", ExpectedRevision: rev}); err != nil {
				t.Fatalf("SetPin at the current revision: %v", err)
			}
			_, err := c.SetPin(withToken(ctxT(t), "adm"), &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.1", ExpectedRevision: rev})
			return err
		}, codes.Aborted, refusal.PinConflict},
		{"GetPins of an unknown service", func() error {
			_, err := c.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{Service: "acme.nothing.v1.Nothing"})
			return err
		}, codes.NotFound, refusal.UnknownService},
		{"Hold without a reason", func() error {
			_, err := c.Hold(withToken(ctxT(t), "adm"), &rollpinv1.HoldRequest{Service: testSvc})
			return err
		}, codes.InvalidArgument, refusal.InvalidRequest},
		{"SetMode with a bad mode", func() error {
			_, err := c.SetMode(withToken(ctxT(t), "adm"), &rollpinv1.SetModeRequest{Service: testSvc, Mode: 7})
			return err
		}, codes.InvalidArgument, refusal.InvalidRequest},
		{"WatchPins from a negative revision", func() error {
			st, err := c.WatchPins(ctxT(t), &rollpinv1.WatchPinsRequest{StartRevision: -1})
			if err == nil {
				_, err = st.Recv()
			}
			return err
		}, codes.InvalidArgument, refusal.InvalidRequest},
	} {
		wantRefusal(t, tc.name, tc.call(), tc.code, tc.reason)
	}
}
