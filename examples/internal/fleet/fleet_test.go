package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rollpin/rollpin/interceptor"
)

func TestTallyCountsAndErrors(t *testing.T) {
	var tl Tally
	tl.Inc(OK)
	tl.Add(Calls, 3)
	for i := range maxErrors + 2 {
		tl.Fail(Failed, "boom "+string(rune('a'+i)))
	}
	got := tl.Counts()
	want := Counts{Calls: 3, OK: 1, Failed: maxErrors + 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Counts() (-want +got):\n%s", diff)
	}
	if n := len(tl.Errors()); n != maxErrors {
		t.Errorf("len(Errors()) = %d, want %d (bounded)", n, maxErrors)
	}
}

func TestCountsAdd(t *testing.T) {
	a := Counts{OK: 1, Lost: 2, DefaultsFilled: 3, NVMeOK: 4}
	if got, want := a.Add(a), (Counts{OK: 2, Lost: 4, DefaultsFilled: 6, NVMeOK: 8}); got != want {
		t.Errorf("Add = %+v, want %+v", got, want)
	}
}

func TestReporterWritesJSONLines(t *testing.T) {
	var buf bytes.Buffer
	r := NewReporter(&buf)
	in := Report{Kind: KindClient, ID: "c", Build: "1.4", Counts: Counts{OK: 7}, Features: map[string]string{"nvme": "ok"}}
	r.Emit(in)
	r.Emit(Report{Kind: KindFinal, ID: "c"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %q", len(lines), buf.String())
	}
	var out Report
	if err := json.Unmarshal([]byte(lines[0]), &out); err != nil {
		t.Fatalf("line 1 is not a Report: %v", err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func newSlots(t *testing.T, n int) *Slots {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = "127.0.0.1:1" // never dialled: the tests make no call
	}
	s, err := DialSlots(addrs, interceptor.StaticPins{}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestDrainWaitsForSequences checks that Drain returns only after the
// sequences using the slot have released it, and that the slot is not
// handed out meanwhile.
func TestDrainWaitsForSequences(t *testing.T) {
	s := newSlots(t, 1)
	r := rand.New(rand.NewPCG(1, 1))
	_, release, err := s.Acquire(r)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	drained := make(chan struct{})
	go func() {
		s.Drain(0)
		close(drained)
	}()
	// Once the drain has begun, the slot is not handed out.
	for len(s.Addrs()) != 0 {
		time.Sleep(time.Millisecond)
	}
	if _, _, err := s.Acquire(r); err != ErrNoSlot {
		t.Fatalf("Acquire on a draining slot: %v, want ErrNoSlot", err)
	}
	select {
	case <-drained:
		t.Fatal("Drain returned while a sequence still used the slot")
	default:
	}
	release()
	<-drained
	if got := s.Addrs(); len(got) != 0 {
		t.Errorf("Addrs() after drain = %v, want none", got)
	}
	if err := s.Open(0, "127.0.0.1:2"); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := s.Addrs(); !cmp.Equal(got, []string{"127.0.0.1:2"}) {
		t.Errorf("Addrs() after open = %v, want [127.0.0.1:2]", got)
	}
}

// TestCommands checks the command protocol on stdin.
func TestCommands(t *testing.T) {
	s := newSlots(t, 2)
	pr, pw := io.Pipe()
	var mu sync.Mutex
	var drained []int
	stopped := make(chan struct{})
	go Commands(context.Background(), pr, s, func(i int) {
		mu.Lock()
		drained = append(drained, i)
		mu.Unlock()
	}, func() { close(stopped) })
	io.WriteString(pw, "drain 1\nbogus\nopen 1 127.0.0.1:3\nstop\n")
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Commands did not stop on \"stop\"")
	}
	mu.Lock()
	defer mu.Unlock()
	if !cmp.Equal(drained, []int{1}) {
		t.Errorf("drained = %v, want [1]", drained)
	}
	if got, want := s.Addrs(), []string{"127.0.0.1:1", "127.0.0.1:3"}; !cmp.Equal(got, want) {
		t.Errorf("Addrs() = %v, want %v", got, want)
	}
	pw.Close()
}

// TestCommandsStopsAtEOF checks that the end of stdin stops the client.
func TestCommandsStopsAtEOF(t *testing.T) {
	s := newSlots(t, 1)
	stopped := make(chan struct{})
	go Commands(context.Background(), strings.NewReader("drain 0\n"), s, func(int) {}, func() { close(stopped) })
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Commands did not stop at end of input")
	}
}

// FuzzCommands feeds arbitrary input to the command reader: it must never
// panic, and must stop at the end of the input.
func FuzzCommands(f *testing.F) {
	for _, seed := range []string{
		"drain 0\nopen 0 127.0.0.1:9\nstop\n",
		"drain -1\ndrain 99\nopen 5 127.0.0.1:9\nopen -1 127.0.0.1:9\nopen 999999999999 x\n",
		"open x y\ndrain\n\n  \nstop extra\n",
		"drain 00000000000000000000000000000001\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := DialSlots([]string{"127.0.0.1:1"}, interceptor.StaticPins{}, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stopped := make(chan struct{})
		Commands(context.Background(), strings.NewReader(in), s, func(int) {}, func() { close(stopped) })
		<-stopped
	})
}
