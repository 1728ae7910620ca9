package main

import (
	"strings"
	"testing"

	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// -o json prints every field, indented by two spaces, byte for byte stable.
func TestStatusJSONGolden(t *testing.T) {
	var b strings.Builder
	a := newApp(streams{Out: &b})
	a.output = "json"
	if _, err := a.printStructured(&rollpinv1.GetPinsResponse{Services: handStates()[:2]}); err != nil {
		t.Fatal(err)
	}
	golden(t, "status_handbuilt_json", b.String())
}

// A watch update with -o json is one compact line with every field.
func TestWatchJSONLineGolden(t *testing.T) {
	var b strings.Builder
	a := newApp(streams{Out: &b})
	a.output = "json"
	w := &watchPrinter{a: a, known: map[string]*rollpinv1.ServiceState{}}
	if err := w.print(&rollpinv1.WatchPinsResponse{Update: &rollpinv1.PinUpdate{Revision: 7, Services: handStates()[1:2]}}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n != 1 {
		t.Errorf("watch -o json printed %d lines for one update, want 1:\n%s", n, b.String())
	}
	golden(t, "watch_line_json", b.String())
}
