package main

import (
	"strings"
	"testing"
)

func TestCompletion(t *testing.T) {
	p := startPind(t)
	p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "--endpoints", p.addr, "status", "Vol"}, []string{"VolumeService"}},
		{[]string{"__complete", "--endpoints", p.addr, "pin", "set", "acme."}, []string{volSvc}},
		{[]string{"__complete", "--endpoints", p.addr, "mode", volSvc, ""}, []string{"auto", "manual"}},
		{[]string{"__complete", "-o", ""}, []string{"table", "json", "yaml"}},
	} {
		r := pindctl(t, nil, tc.args...)
		got := strings.Split(strings.TrimSpace(r.out), "\n")
		if r.code != exitOK || len(got) != len(tc.want)+1 || strings.Join(got[:len(got)-1], " ") != strings.Join(tc.want, " ") {
			t.Errorf("pindctl %v = exit %d %q, want %v and a directive", tc.args, r.code, r.out, tc.want)
		}
	}
	if r := pindctl(t, nil, "completion", "bash"); r.code != exitOK || !strings.Contains(r.out, "__start_pindctl") {
		t.Errorf("pindctl completion bash: exit %d", r.code)
	}
}
