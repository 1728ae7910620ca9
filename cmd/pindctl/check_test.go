package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// The example service's 1.3 and 1.4 releases, as buf images.
const (
	volumeV1Image = "../../examples/volume/v1/volume.binpb"
	volumeV2Image = "../../examples/volume/v2/volume.binpb"
)

func runCheck(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"check"}, args...), streams{Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestCheckCompatibleRelease(t *testing.T) {
	t.Parallel()
	code, out, errs := runCheck(t, "--against", volumeV1Image, volumeV2Image)
	if code != exitOK {
		t.Fatalf("check v1 → v2 exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, exitOK, out, errs)
	}
	if !strings.Contains(out, "no compatibility rule broken") {
		t.Errorf("check v1 → v2 stdout = %q, want it to say no rule is broken", out)
	}
}

func TestCheckIncompatibleRelease(t *testing.T) {
	t.Parallel()
	// Going from 1.4 back to 1.3: the version goes back and 1.4's fields
	// disappear without deprecation.
	code, out, errs := runCheck(t, "--against", volumeV2Image, volumeV1Image)
	if code != exitFailed {
		t.Fatalf("check v2 → v1 exit %d, want %d; stdout:\n%s", code, exitFailed, out)
	}
	for _, want := range []string{"ROLLPIN_API_VERSION_NOT_BACKWARDS", "ROLLPIN_REMOVE_ONLY_DEPRECATED", "acme.volume.v1.Volume.thin", "fix: "} {
		if !strings.Contains(out, want) {
			t.Errorf("check v2 → v1 stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "rule(s) broken") {
		t.Errorf("check v2 → v1 stderr = %q, want the count of broken rules", errs)
	}

	code, out, _ = runCheck(t, "-o", "json", "--against", volumeV2Image, volumeV1Image)
	if code != exitFailed {
		t.Fatalf("check -o json exit %d, want %d", code, exitFailed)
	}
	var parsed struct {
		Findings []findingOutput `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &parsed); err != nil {
		t.Fatalf("check -o json output does not parse: %v\n%s", err, out)
	}
	found := false
	for _, f := range parsed.Findings {
		if f.Rule == "ROLLPIN_API_VERSION_NOT_BACKWARDS" && f.Element == "acme.volume.v1" && f.Fix != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("check -o json findings lack the backwards version of acme.volume.v1: %+v", parsed.Findings)
	}
}

func TestCheckLintOnly(t *testing.T) {
	t.Parallel()
	code, out, _ := runCheck(t, volumeV2Image)
	if code != exitOK {
		t.Fatalf("check (lint only) exit %d, want %d:\n%s", code, exitOK, out)
	}
}

func TestCheckUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"a", "b"}} {
		if code, _, _ := runCheck(t, args...); code != exitUsage {
			t.Errorf("check %q exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, errs := runCheck(t, "--against", "does-not-exist.binpb", volumeV2Image); code != exitFailed || !strings.Contains(errs, "previous release") {
		t.Errorf("check with a missing --against file: exit %d, stderr %q; want %d and a hint", code, errs, exitFailed)
	}
}
