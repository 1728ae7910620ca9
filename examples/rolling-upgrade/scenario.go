package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/examples/internal/fleet"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// Options tunes Run. Zero fields take the demo's values.
type Options struct {
	// Out receives the timeline and the summary (default os.Stdout).
	Out io.Writer
	// Dir holds the binaries, etcd's data and the processes' logs (default
	// a new temporary directory, removed at the end unless Keep).
	Dir string
	// Keep keeps Dir.
	Keep bool
	// Servers is the number of server instances (default 3).
	Servers int
	// V1Clients and V2Clients are the numbers of 1.3 and 1.4 load clients
	// (default 2 each); Workers the concurrent call sequences of each
	// (default 2), separated by Pause (default 10ms).
	V1Clients, V2Clients, Workers int
	Pause                         time.Duration
	// Settle is pind's settle window before an automatic raise (default 2s).
	Settle time.Duration
	// Soak is how long traffic runs between two steps (default 2s).
	Soak time.Duration
	// Tick is the period of the timeline's status lines (default 500ms).
	Tick time.Duration
	// Log receives pind's diagnostics (default: errors on stderr).
	Log *slog.Logger
	// NoPostgres runs the demo as if PostgreSQL were not installed: no
	// volumes table, no migrations.
	NoPostgres bool
}

func (o Options) withDefaults() Options {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Servers, 3)
	def(&o.V1Clients, 2)
	def(&o.V2Clients, 2)
	def(&o.Workers, 2)
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defd(&o.Pause, 10*time.Millisecond)
	defd(&o.Settle, 2*time.Second)
	defd(&o.Soak, 2*time.Second)
	defd(&o.Tick, 500*time.Millisecond)
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	return o
}

// Summary is what a run established.
type Summary struct {
	// Elapsed is the run's duration, compilation excluded.
	Elapsed time.Duration
	// Clients and Servers are the summed final counters of every client
	// and every server process.
	Clients, Servers fleet.Counts
	// Errors are the unexpected failures and lost-meaning answers reported.
	Errors []string
	// Pins is every write of the service's pin, in etcd order.
	Pins []PinChange
	// Raises is the number of writes that raised the pin.
	Raises int
	// Last13Gone is the etcd revision at which the last 1.3 server left.
	Last13Gone int64
	// FeaturesBefore and FeaturesAfter are the outcomes of the 1.4
	// features probe under pin 1.3 and after the raise.
	FeaturesBefore, FeaturesAfter map[string]string
	// Fenced is what pind answered a 1.3 server that tried to join after
	// the raise ("" if it was let in).
	Fenced string
	// DB is what the run established about the database plane.
	DB DBSummary
	// Problems lists every broken promise; empty means success.
	Problems []string
}

// OK reports whether the run kept every promise.
func (s Summary) OK() bool { return len(s.Problems) == 0 }

// Expected outcomes of the features probe.
var (
	wantBefore = map[string]string{
		"nvme": "downgraded", "size_mib": "downgraded", "thick": "withheld",
		"resize": "refused", "multi_attach": "refused",
	}
	wantAfter = map[string]string{
		"nvme": "ok", "size_mib": "ok", "thick": "ok", "resize": "ok", "multi_attach": "ok",
	}
)

// run holds the state of one Run.
type run struct {
	o     Options
	dir   string
	tl    *timeline
	pd    *pind
	fleet *fleetState
	bins  map[string]string // build -> binary
	db    *database         // nil without PostgreSQL

	mu      sync.Mutex
	procs   []*proc
	clients []*proc
	servers []*proc
	addrs   []string
	seq     int
}

// Run plays the rolling upgrade: pind on an embedded etcd, Servers 1.3
// servers and a load of 1.3 and 1.4 clients, the servers replaced one at a
// time by 1.4 ones under traffic, the pin rising by itself once the last 1.3
// server is gone, then the 1.4 features at work. It returns an error when
// the scenario could not be played (a build or a process failed to start);
// broken promises are reported in Summary.Problems.
func Run(ctx context.Context, o Options) (sum Summary, err error) {
	o = o.withDefaults()
	r := &run{o: o, fleet: &fleetState{}, tl: &timeline{out: o.Out, t0: time.Now()}}
	r.dir = o.Dir
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "rollpin-demo-"); err != nil {
			return sum, err
		}
		if !o.Keep {
			defer os.RemoveAll(r.dir)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer r.killAll()

	r.tl.event("building the volume service at API 1.3 and 1.4, and pindctl (go build)")
	if r.bins, err = build(ctx, r.dir); err != nil {
		return sum, err
	}
	t0 := time.Now()
	r.tl.t0 = t0

	r.tl.event("starting pind on an embedded etcd (settle window %v)", o.Settle)
	if r.pd, err = startPind(ctx, r.dir, o.Settle, o.Log); err != nil {
		return sum, err
	}
	defer r.pd.close()

	r.db = r.startDatabase(ctx)
	defer r.db.stop()
	sum.DB.Used = r.db != nil

	r.addrs = make([]string, o.Servers)
	for i := range o.Servers {
		p, err := r.startServer(ctx, "1.3", i)
		if err != nil {
			return sum, err
		}
		r.servers = append(r.servers, p)
	}
	r.tl.event("%d servers at 1.3 registered with pind", o.Servers)
	r.tl.printf("  status lines: pin and floor of %s, live servers by version, pind's automatic raise │ calls of all clients │ what the interceptors changed", fleet.Service)
	if err := r.waitPin(ctx, "1.3", o.Settle+15*time.Second); err != nil {
		return sum, err
	}
	r.tl.event("pin of %s created at the fleet's floor: 1.3", fleet.Service)
	r.status(ctx)
	db := r.db
	if db != nil {
		// Expand now; the contract waits for 1.4 (migrate up exits 1).
		sum.DB.ContractRefused = !r.migrate(ctx, db) && db.hasColumn(ctx, "size_gb")
		sum.DB.ExpandBefore14 = db.hasColumn(ctx, "size_mib")
	}

	for i := range o.V1Clients + o.V2Clients {
		build := "1.3"
		if i >= o.V1Clients {
			build = "1.4"
		}
		if err := r.startClient(ctx, build); err != nil {
			return sum, err
		}
	}
	r.tl.event("%d clients at 1.3 and %d at 1.4 calling continuously through the rollpin interceptors", o.V1Clients, o.V2Clients)

	tctx, stopTicker := context.WithCancel(ctx)
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		r.ticker(tctx)
	}()
	defer func() { stopTicker(); <-tickerDone }()

	if sum.FeaturesBefore, err = r.probe(ctx, "before"); err != nil {
		return sum, err
	}
	r.tl.event("1.4 features under pin 1.3: %s", featuresLine(sum.FeaturesBefore))
	var seeded string
	if db != nil {
		if seeded, sum.DB.Seeded, err = r.seed(ctx); err != nil {
			return sum, err
		}
		r.tl.event("%d volumes created through the 1.3 servers (size_gb only), to be read back through 1.4 servers", sum.DB.Seeded)
	}
	fleet.Sleep(ctx, o.Soak)

	for i := range o.Servers {
		if err := r.replace(ctx, i); err != nil {
			return sum, err
		}
		if i == 0 {
			r.pindctl(ctx, "status")
		}
		if i < o.Servers-1 {
			fleet.Sleep(ctx, o.Soak)
		}
	}
	r.tl.event("no 1.3 server left: the pin rises by itself once the fleet has settled for %v", o.Settle)
	if err := r.waitPin(ctx, "1.4", o.Settle+20*time.Second); err != nil {
		return sum, err
	}
	r.tl.event("pin raised to 1.4 by pind's controller: 1.4 clients now send 1.4")
	if db != nil {
		sum.DB.Unfilled = db.waitBackfill(ctx, 15*time.Second)
		r.tl.event("migrate (online): the backfill of server 1 has set size_mib of every row; %d rows without it", sum.DB.Unfilled)
		if err := r.readbacks(ctx, &sum.DB, "after the backfill", seeded); err != nil {
			return sum, err
		}
		// The contract runs and leaves its mark.
		sum.DB.ContractApplied = r.migrate(ctx, db) && !db.hasColumn(ctx, "size_gb")
		out, _ := r.pindctl(ctx, "status")
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "00003_drop_size_gb") {
				sum.DB.Mark = strings.Join(strings.Fields(l), " ")
			}
		}
		if err := r.readbacks(ctx, &sum.DB, "after the contract", seeded); err != nil {
			return sum, err
		}
	} else {
		r.pindctl(ctx, "status")
	}
	fleet.Sleep(ctx, o.Soak)

	if sum.FeaturesAfter, err = r.probe(ctx, "after"); err != nil {
		return sum, err
	}
	r.tl.event("1.4 features under pin 1.4: %s", featuresLine(sum.FeaturesAfter))

	sum.Fenced, err = r.lateJoiner(ctx)
	if err != nil {
		return sum, err
	}
	if sum.Fenced != "" {
		r.tl.event("a 1.3 server trying to join now is refused by pind: %s", sum.Fenced)
	}

	r.tl.event("stopping the clients, then the servers")
	var procErrs []string
	for _, c := range r.clients {
		_ = c.send("stop")
	}
	for _, c := range r.clients {
		if err := c.wait(15 * time.Second); err != nil {
			procErrs = append(procErrs, err.Error())
		}
	}
	for _, s := range r.servers {
		if err := s.terminate(15 * time.Second); err != nil {
			procErrs = append(procErrs, err.Error())
		}
	}
	stopTicker()
	<-tickerDone
	r.status(ctx)

	h, err := readHistory(ctx, r.pd.cli, r.pd.prefix)
	if err != nil {
		return sum, err
	}
	sum.Elapsed = time.Since(t0)
	sum.Clients, sum.Servers, sum.Errors = r.fleet.totals()
	sum.Pins, sum.Last13Gone = h.Pins, h.Last13Gone
	sum.Problems = append(procErrs, judge(&sum)...)
	sum.Problems = append(sum.Problems, judgeDB(sum.DB)...)
	printSummary(o.Out, sum)
	return sum, nil
}

// judge counts the raises and returns every broken promise of sum.
func judge(sum *Summary) []string {
	var p []string
	c := sum.Clients
	if c.Failed > 0 {
		p = append(p, fmt.Sprintf("%d calls failed unexpectedly", c.Failed))
	}
	if c.Lost > 0 {
		p = append(p, fmt.Sprintf("%d answers lost meaning", c.Lost))
	}
	if c.OK == 0 {
		p = append(p, "no call succeeded")
	}
	if c.NewMethodRefused == 0 || c.NewMethodOK == 0 {
		p = append(p, fmt.Sprintf("the load should see ResizeVolume refused under pin 1.3 and working under 1.4: refused %d, ok %d",
			c.NewMethodRefused, c.NewMethodOK))
	}
	var raise *PinChange
	prev := ""
	for i, pc := range sum.Pins {
		v := trackVersion(pc.Manifest)
		if i == 0 && v != "1.3" {
			p = append(p, fmt.Sprintf("the pin was created at %s, want 1.3 (the floor of the first servers)", v))
		}
		if prev != "" && v != prev {
			if less(v, prev) {
				p = append(p, fmt.Sprintf("the pin was lowered from %s to %s at revision %d", prev, v, pc.Revision))
			} else {
				sum.Raises++
				raise = &sum.Pins[i]
			}
		}
		prev = v
	}
	switch {
	case sum.Raises != 1:
		p = append(p, fmt.Sprintf("the pin rose %d times, want exactly once", sum.Raises))
	case prev != "1.4":
		p = append(p, fmt.Sprintf("the pin ended at %s, want 1.4", prev))
	case raise.Live13 > 0 || sum.Last13Gone == 0 || raise.Revision < sum.Last13Gone:
		p = append(p, fmt.Sprintf("the pin rose at revision %d with %d 1.3 servers live (last one left at revision %d)",
			raise.Revision, raise.Live13, sum.Last13Gone))
	}
	for _, f := range []struct {
		name      string
		got, want map[string]string
	}{{"before the raise", sum.FeaturesBefore, wantBefore}, {"after the raise", sum.FeaturesAfter, wantAfter}} {
		for k, w := range f.want {
			if g := f.got[k]; g != w {
				p = append(p, fmt.Sprintf("feature %s %s: %q, want %q", k, f.name, g, w))
			}
		}
	}
	if sum.Fenced == "" {
		p = append(p, "a 1.3 server joining after the raise was not refused")
	}
	return p
}

// build compiles both versions of the volume binary, and pindctl, into dir,
// in parallel.
// The go command's build cache makes a second run fast.
func build(ctx context.Context, dir string) (map[string]string, error) {
	pkgs := map[string]string{
		"1.3":     "github.com/rollpin/rollpin/examples/volume/v1/cmd/volume",
		"1.4":     "github.com/rollpin/rollpin/examples/volume/v2/cmd/volume",
		"pindctl": "github.com/rollpin/rollpin/cmd/pindctl",
	}
	bins := map[string]string{}
	errs := make(chan error, len(pkgs))
	for b, pkg := range pkgs {
		bin := filepath.Join(dir, "volume-"+b)
		if b == "pindctl" {
			bin = filepath.Join(dir, b)
		}
		bins[b] = bin
		go func() {
			out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
			}
			errs <- err
		}()
	}
	for range pkgs {
		if err := <-errs; err != nil {
			return nil, err
		}
	}
	return bins, nil
}

func (r *run) name(prefix string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	return fmt.Sprintf("%s-%d", prefix, r.seq)
}

func (r *run) spawn(ctx context.Context, name, build string, args ...string) (*proc, error) {
	p, err := start(ctx, r.dir, name, r.fleet, r.bins[build], args...)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p, nil
}

// startServer starts a server of the given build for slot i, on a port of
// its choosing, and waits until it serves and is registered; r.addrs[i]
// becomes its address.
// With a database, the server gets its DSN, and the first 1.4 server runs
// the backfill.
func (r *run) startServer(ctx context.Context, build string, i int) (*proc, error) {
	id := fmt.Sprintf("volume-%d-%s", i+1, build)
	args := []string{"server", "-listen", "127.0.0.1:0", "-pind", r.pd.addr, "-id", id, "-exit-on-stdin-eof"}
	if r.db != nil {
		args = append(args, "-dsn", r.db.dsn)
		if build == "1.4" && i == 0 {
			args = append(args, "-backfill")
		}
	}
	p, err := r.spawn(ctx, id, build, args...)
	if err != nil {
		return nil, err
	}
	rep, err := p.await(ctx, fleet.KindReady, 0, 20*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, p.tail())
	}
	r.addrs[i] = rep.Addr
	return p, nil
}

func (r *run) startClient(ctx context.Context, build string) error {
	id := r.name("client-" + build)
	p, err := r.spawn(ctx, id, build, "client", "-pind", r.pd.addr, "-id", id,
		"-slots", strings.Join(r.addrs, ","), "-workers", strconv.Itoa(r.o.Workers),
		"-pause", r.o.Pause.String(), "-report", "200ms")
	if err != nil {
		return err
	}
	r.clients = append(r.clients, p)
	return nil
}

// replace drains slot i in every client, stops its server gracefully and
// starts a 1.4 server in its place; the clients then connect the slot to the
// new server.
func (r *run) replace(ctx context.Context, i int) error {
	old := r.servers[i]
	r.tl.event("replacing server %d (1.3) with 1.4: clients drain their connections to it", i+1)
	for _, c := range r.clients {
		if err := c.send("drain " + strconv.Itoa(i)); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	for _, c := range r.clients {
		if _, err := c.await(ctx, fleet.KindDrained, i, 20*time.Second); err != nil {
			return err
		}
	}
	if err := old.terminate(15 * time.Second); err != nil {
		return err
	}
	r.tl.event("server %d (1.3) stopped gracefully and left pind", i+1)
	p, err := r.startServer(ctx, "1.4", i)
	if err != nil {
		return err
	}
	r.servers[i] = p
	for _, c := range r.clients {
		if err := c.send(fmt.Sprintf("open %d %s", i, r.addrs[i])); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	r.tl.event("server %d runs 1.4 and takes traffic again", i+1)
	return nil
}

// probe runs the 1.4 features probe once and returns its outcomes.
func (r *run) probe(ctx context.Context, when string) (map[string]string, error) {
	id := "features-" + when
	p, err := r.spawn(ctx, id, "1.4", "features", "-pind", r.pd.addr, "-id", id, "-slots", strings.Join(r.addrs, ","))
	if err != nil {
		return nil, err
	}
	rep, err := p.await(ctx, fleet.KindFeatures, 0, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, p.tail())
	}
	if err := p.wait(15 * time.Second); err != nil {
		return nil, err
	}
	return rep.Features, nil
}

// lateJoiner starts a 1.3 server after the raise and returns what pind
// answered it; "" when it was let in (then it is stopped).
func (r *run) lateJoiner(ctx context.Context) (string, error) {
	id := "volume-late-1.3"
	p, err := r.spawn(ctx, id, "1.3", "server", "-listen", "127.0.0.1:0", "-pind", r.pd.addr, "-id", id)
	if err != nil {
		return "", err
	}
	if _, err := p.await(ctx, fleet.KindReady, 0, 20*time.Second); err == nil {
		return "", p.terminate(15 * time.Second)
	}
	<-p.done
	lines := strings.Split(strings.TrimSpace(p.tail()), "\n")
	msg := lines[len(lines)-1]
	if _, after, ok := strings.Cut(msg, "instance is below the pin: "); ok {
		msg = after
	}
	return msg, nil
}

// pindctl runs pindctl against pind, as an operator would, and prints its
// output in the timeline, and returns the output and the exit error. A
// failure is printed, not fatal.
func (r *run) pindctl(ctx context.Context, args ...string) (string, error) {
	args = append([]string{"--endpoints", r.pd.addr}, args...)
	out, err := exec.CommandContext(ctx, r.bins["pindctl"], args...).CombinedOutput()
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if err != nil {
		lines = append(lines, fmt.Sprintf("(pindctl: %v)", err))
	}
	r.tl.block("$ pindctl "+strings.Join(args[2:], " "), lines)
	return string(out), err
}

// readbacks runs a readback of the seeded volumes and records it in d.
func (r *run) readbacks(ctx context.Context, d *DBSummary, when, seeded string) error {
	ok, err := r.readback(ctx, when, seeded)
	d.Readbacks = append(d.Readbacks, ok)
	return err
}

// waitPin waits until the service's pin is at version want.
func (r *run) waitPin(ctx context.Context, want string, timeout time.Duration) error {
	ch, unsubscribe := r.pd.srv.Subscribe()
	defer unsubscribe()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		if v := r.pd.srv.Snapshot().Service(fleet.Service); v != nil && v.Pin != nil &&
			trackVersion(v.Pin.GetManifest()) == want {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
			return fmt.Errorf("the pin did not reach %s within %v: %s", want, timeout, serviceLine(r.pd.srv.Snapshot()))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// status prints a status line, with the raise status pind reports.
func (r *run) status(ctx context.Context) {
	st := r.pd.srv.Snapshot()
	var raise *rollpinv1.RaiseStatus
	gctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if resp, err := r.pd.client.GetPins(gctx, &rollpinv1.GetPinsRequest{Service: fleet.Service}); err == nil {
		for _, s := range resp.GetServices() {
			if s.GetService() == fleet.Service {
				raise = s.GetRaise()
			}
		}
	}
	r.tl.status(st, raise, r.fleet)
}

func (r *run) ticker(ctx context.Context) {
	t := time.NewTicker(r.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.status(ctx)
		}
	}
}

// killAll kills every process still running.
func (r *run) killAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.procs {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

func featuresLine(f map[string]string) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+f[k])
	}
	return strings.Join(parts, ", ")
}

// printSummary prints the outcome of a run.
func printSummary(w io.Writer, s Summary) {
	c := s.Clients
	fmt.Fprintf(w, "\n── summary (%.1fs) ──\n", s.Elapsed.Seconds())
	fmt.Fprintf(w, "calls: %d ok, %d refused as designed, %d failed, %d lost meaning\n", c.OK, c.Refused, c.Failed, c.Lost)
	fmt.Fprintf(w, "1.4 load: ResizeVolume %d refused / %d ok, multi-attach %d refused / %d ok, NVMe %d sent as SSD / %d ok\n",
		c.NewMethodRefused, c.NewMethodOK, c.MultiAttachRef, c.MultiAttachOK, c.NVMeDowngraded, c.NVMeOK)
	fmt.Fprintf(w, "interceptors: %d fields dropped, %d enum values downgraded, %d defaults filled (clients and servers)\n",
		c.FieldsDropped+s.Servers.FieldsDropped, c.EnumsDowngraded+s.Servers.EnumsDowngraded, c.DefaultsFilled+s.Servers.DefaultsFilled)
	for _, pc := range s.Pins {
		fmt.Fprintf(w, "pin %s at etcd revision %d by %s (1.3 servers live: %d)\n",
			trackVersion(pc.Manifest), pc.Revision, pc.UpdatedBy, pc.Live13)
	}
	fmt.Fprintf(w, "last 1.3 server left at revision %d; the pin rose %d time(s)\n", s.Last13Gone, s.Raises)
	if d := s.DB; d.Used {
		fmt.Fprintf(w, "database: expand before the first 1.4 server %t, contract refused under 1.3 %t, applied after the raise %t; %d rows backfilled online; %d volumes of 1.3 read back %v ok\n",
			d.ExpandBefore14, d.ContractRefused, d.ContractApplied, s.Servers.Backfilled, d.Seeded, d.Readbacks)
		fmt.Fprintf(w, "contract mark: %s\n", d.Mark)
	} else {
		fmt.Fprintln(w, "database: not used")
	}
	for _, e := range s.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	if s.OK() {
		fmt.Fprintln(w, "OK: no call failed, no answer lost meaning, the pin rose once, after the last 1.3 server left")
		return
	}
	for _, p := range s.Problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
}

// less compares two version texts ("1.3" < "1.4" < "1.10").
func less(a, b string) bool {
	va, err1 := backport.ParseVersion(a)
	vb, err2 := backport.ParseVersion(b)
	if err1 != nil || err2 != nil {
		return a < b
	}
	return va.Less(vb)
}
