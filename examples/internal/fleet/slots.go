package fleet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rollpin/rollpin/interceptor"
)

// ErrNoSlot is returned by Slots.Acquire when no slot is open.
var ErrNoSlot = fmt.Errorf("fleet: no open slot")

// Slots holds one client connection per server slot, each built with the
// rollpin client interceptors. Safe for concurrent use.
type Slots struct {
	dial []grpc.DialOption
	log  *slog.Logger

	mu    sync.Mutex
	cond  *sync.Cond
	slots []slot
}

type slot struct {
	addr     string
	cc       *grpc.ClientConn
	draining bool
	active   int
}

// DialSlots connects to every address (slot i is addrs[i]); pins caps what
// is sent; obs (may be nil) is told what the interceptors change.
func DialSlots(addrs []string, pins interceptor.PinSource, obs *Observer, log *slog.Logger) (*Slots, error) {
	s := &Slots{
		log: log,
		dial: []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithChainUnaryInterceptor(interceptor.UnaryClientInterceptor(pins, clientOptions(obs, log)...)),
			grpc.WithChainStreamInterceptor(interceptor.StreamClientInterceptor(pins, clientOptions(obs, log)...)),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: time.Second,
			}),
		},
	}
	s.cond = sync.NewCond(&s.mu)
	s.slots = make([]slot, len(addrs)) // the set of slots is fixed from here on
	for i, a := range addrs {
		if err := s.Open(i, a); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Acquire returns the connection of a random open slot and a release
// function to call when the sequence of calls on it is over.
func (s *Slots) Acquire(r *rand.Rand) (*grpc.ClientConn, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var open []int
	for i := range s.slots {
		if s.slots[i].cc != nil && !s.slots[i].draining {
			open = append(open, i)
		}
	}
	if len(open) == 0 {
		return nil, nil, ErrNoSlot
	}
	i := open[r.IntN(len(open))]
	s.slots[i].active++
	cc := s.slots[i].cc
	return cc, func() {
		s.mu.Lock()
		s.slots[i].active--
		s.mu.Unlock()
		s.cond.Broadcast()
	}, nil
}

// Addrs returns the addresses of the open slots.
func (s *Slots) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sl := range s.slots {
		if sl.cc != nil && !sl.draining {
			out = append(out, sl.addr)
		}
	}
	return out
}

// Drain stops handing out slot i, waits until no sequence uses it, and
// closes its connection.
func (s *Slots) Drain(i int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= len(s.slots) {
		return fmt.Errorf("fleet: drain: no slot %d", i)
	}
	s.slots[i].draining = true
	for s.slots[i].active > 0 {
		s.cond.Wait()
	}
	if cc := s.slots[i].cc; cc != nil {
		_ = cc.Close()
	}
	s.slots[i] = slot{}
	return nil
}

// Open (re)connects slot i, one of the slots given to DialSlots, to addr.
// Drain the slot first: sequences still using the old connection fail.
func (s *Slots) Open(i int, addr string) error {
	s.mu.Lock()
	n := len(s.slots)
	s.mu.Unlock()
	if i < 0 || i >= n {
		return fmt.Errorf("fleet: open: no slot %d (slots 0 to %d)", i, n-1)
	}
	cc, err := grpc.NewClient(addr, s.dial...)
	if err != nil {
		return fmt.Errorf("fleet: dial %s: %w", addr, err)
	}
	cc.Connect()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.slots[i].cc; old != nil {
		_ = old.Close()
	}
	s.slots[i] = slot{addr: addr, cc: cc}
	return nil
}

// Close closes every connection.
func (s *Slots) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.slots {
		if cc := s.slots[i].cc; cc != nil {
			_ = cc.Close()
		}
		s.slots[i] = slot{}
	}
}

// Commands reads orchestrator commands, one per line, from r until EOF, a
// "stop" line or ctx's end, then calls stop:
//
//	drain <slot>          stop using the slot; answered by a "drained" report
//	open <slot> <address> use the slot again, connected to address
//	stop                  finish the current sequences and exit
func Commands(ctx context.Context, r io.Reader, s *Slots, drained func(slot int), stop func()) {
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the reader goroutine never blocks on a send after return
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			return
		case line, ok = <-lines:
			if !ok {
				return
			}
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "stop":
			return
		case f[0] == "drain" && len(f) == 2:
			i, err := strconv.Atoi(f[1])
			if err == nil {
				err = s.Drain(i)
			}
			if err != nil {
				s.log.Warn("bad drain command", "line", line, "err", err)
				continue
			}
			drained(i)
		case f[0] == "open" && len(f) == 3:
			i, err := strconv.Atoi(f[1])
			if err == nil {
				err = s.Open(i, f[2])
			}
			if err != nil {
				s.log.Warn("bad open command", "line", line, "err", err)
			}
		default:
			s.log.Warn("unknown command", "line", line)
		}
	}
}

// StopAtEOF reads r to its end, then calls stop. A server started by an
// orchestrator passes its stdin: when the orchestrator dies, the pipe ends
// and the server stops gracefully instead of running on.
func StopAtEOF(r io.Reader, stop func()) {
	_, _ = io.Copy(io.Discard, r)
	stop()
}
