package fleet

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRecordClassifies checks that each outcome of a call lands in exactly
// one counter, with its message kept for failures and lost meaning.
func TestRecordClassifies(t *testing.T) {
	c := &Client{ID: "t", Tally: &Tally{}}
	if !c.Record("Get", nil, "") {
		t.Error("Record(no error, no mismatch) = false, want true")
	}
	if c.Record("Get", errors.New("boom"), "") {
		t.Error("Record(error) = true, want false")
	}
	if c.Record("Get", nil, "size 1, asked 2") {
		t.Error("Record(mismatch) = true, want false")
	}
	precond := status.Error(codes.FailedPrecondition, "no")
	if !c.RecordRefusal("Attach", precond, "attached twice") {
		t.Error("RecordRefusal(FAILED_PRECONDITION) = false, want true")
	}
	if c.RecordRefusal("Attach", nil, "attached twice") {
		t.Error("RecordRefusal(OK) = true, want false")
	}
	if c.RecordRefusal("Attach", status.Error(codes.Unavailable, "down"), "attached twice") {
		t.Error("RecordRefusal(UNAVAILABLE) = true, want false")
	}
	if c.Refused(true, precond) {
		t.Error("Refused(allowed, FAILED_PRECONDITION) = true, want false")
	}
	if c.Refused(false, status.Error(codes.Unavailable, "down")) {
		t.Error("Refused(not allowed, UNAVAILABLE) = true, want false")
	}
	if !c.Refused(false, precond) {
		t.Error("Refused(not allowed, FAILED_PRECONDITION) = false, want true")
	}
	got := c.Tally.Counts()
	want := Counts{Calls: 7, OK: 2, Refused: 1, Failed: 2, Lost: 2}
	if got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	wantErrs := []string{"Get: boom", "Get: size 1, asked 2", "attached twice", "Attach: rpc error: code = Unavailable desc = down"}
	if errs := c.Tally.Errors(); len(errs) != len(wantErrs) {
		t.Errorf("errors = %q, want %q", errs, wantErrs)
	} else {
		for i := range errs {
			if errs[i] != wantErrs[i] {
				t.Errorf("errors[%d] = %q, want %q", i, errs[i], wantErrs[i])
			}
		}
	}
}

// TestOneOf checks the list of subcommands in the unknown-command error.
func TestOneOf(t *testing.T) {
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{[]string{"server"}, "server"},
		{[]string{"server", "client"}, "server or client"},
		{[]string{"server", "client", "features"}, "server, client or features"},
	} {
		if got := oneOf(tt.names); got != tt.want {
			t.Errorf("oneOf(%q) = %q, want %q", tt.names, got, tt.want)
		}
	}
}
