package main

import "testing"

// The admin token is not sent over plaintext unless --insecure-token says
// so; with it, the write goes through.
func TestTokenNeedsTransportSecurity(t *testing.T) {
	t.Parallel()
	p := startPind(t)
	r := pindctl(t, nil, "--endpoints", p.addr, "--token", testToken, "pin", "set", "acme.volume.v1.VolumeService", "1.3", "--force")
	expect(t, r, exitUsage, "--insecure-token")
	if got := p.pinOf(t, "acme.volume.v1.VolumeService"); got != "" {
		t.Errorf("pin after the refused write = %q, want none", got)
	}
	r = pindctl(t, map[string]string{"PINDCTL_INSECURE_TOKEN": "true"}, "--endpoints", p.addr, "--token", testToken, "pin", "set", "acme.volume.v1.VolumeService", "1.3", "--force")
	expect(t, r, exitOK, "1.3")
}
