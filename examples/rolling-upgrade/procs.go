package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rollpin/rollpin/examples/internal/fleet"
)

// proc is one process of the fleet (a server, a load client or a features
// probe) whose stdout carries fleet.Reports.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   string // file holding the process's stderr

	events chan fleet.Report // every report except periodic counters
	done   chan struct{}     // closed when the process has exited
	err    error             // exit error, set before done is closed
}

// fleetState aggregates the latest report of every process.
type fleetState struct {
	mu     sync.Mutex
	latest map[string]fleet.Report
}

func (f *fleetState) put(r fleet.Report) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.latest == nil {
		f.latest = map[string]fleet.Report{}
	}
	f.latest[r.ID] = r
}

// totals returns the summed counters of clients and of servers, and the
// error messages reported so far.
func (f *fleetState) totals() (clients, servers fleet.Counts, errs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, r := range f.latest {
		switch r.Role {
		case "server":
			servers = servers.Add(r.Counts)
		default:
			clients = clients.Add(r.Counts)
		}
		for _, e := range r.Errors {
			errs = append(errs, id+": "+e)
		}
	}
	return clients, servers, errs
}

// start runs bin with args; its stderr goes to dir/name.log.
func start(ctx context.Context, dir, name string, f *fleetState, bin string, args ...string) (*proc, error) {
	p := &proc{
		name:   name,
		log:    filepath.Join(dir, name+".log"),
		events: make(chan fleet.Report, 16),
		done:   make(chan struct{}),
	}
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Stderr = logf
	p.cmd.Cancel = func() error { return p.cmd.Process.Kill() }
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		logf.Close()
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		defer close(p.done)
		defer logf.Close()
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var r fleet.Report
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				continue
			}
			f.put(r)
			if r.Kind != fleet.KindClient && r.Kind != fleet.KindServer {
				select {
				case p.events <- r:
				default: // nobody waits for it
				}
			}
		}
		p.err = p.cmd.Wait()
	}()
	return p, nil
}

// await waits for a report of the given kind (and slot, for "drained").
func (p *proc) await(ctx context.Context, kind string, slot int, timeout time.Duration) (fleet.Report, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case r := <-p.events:
			if r.Kind == kind && (kind != fleet.KindDrained || r.Slot == slot) {
				return r, nil
			}
		case <-p.done:
			return fleet.Report{}, fmt.Errorf("%s exited (%v) before reporting %q; see %s", p.name, p.err, kind, p.log)
		case <-t.C:
			return fleet.Report{}, fmt.Errorf("%s did not report %q within %v; see %s", p.name, kind, timeout, p.log)
		case <-ctx.Done():
			return fleet.Report{}, ctx.Err()
		}
	}
}

// send writes one command line on the process's stdin.
func (p *proc) send(line string) error {
	_, err := io.WriteString(p.stdin, line+"\n")
	return err
}

// terminate asks the process to stop (SIGTERM) and waits for it to exit; it
// kills it after timeout.
func (p *proc) terminate(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(timeout)
}

// wait waits for the process to exit; it kills it after timeout.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v: killed; see %s", p.name, timeout, p.log)
	}
	if p.err != nil {
		return fmt.Errorf("%s: %w; see %s", p.name, p.err, p.log)
	}
	return nil
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last lines of the process's stderr.
func (p *proc) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
