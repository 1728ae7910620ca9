package statuspage

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

//go:embed static
var static embed.FS

// Defaults of the options.
const (
	// DefaultHistoryEntries is how many of the newest history entries the
	// page shows.
	DefaultHistoryEntries = 50
	// DefaultKeepAlive is how often an idle event stream sends a comment,
	// so that proxies keep it open.
	DefaultKeepAlive = 15 * time.Second
)

type options struct {
	historyEntries int
	keepAlive      time.Duration
	log            *slog.Logger
}

// Option configures New.
type Option func(*options)

// WithHistoryEntries sets how many of the newest history entries the page
// shows (default DefaultHistoryEntries; 0 hides the timeline).
func WithHistoryEntries(n int) Option { return func(o *options) { o.historyEntries = n } }

// WithKeepAlive sets the keep-alive interval of event streams.
func WithKeepAlive(d time.Duration) Option { return func(o *options) { o.keepAlive = d } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Handler serves the status page of one Server. It only reads.
type Handler struct {
	srv  *pinsvc.Server
	opts options
	mux  *http.ServeMux
}

// New returns the status page of srv (started). The Handler is safe for
// concurrent use; its event streams end when the request ends or srv closes.
func New(srv *pinsvc.Server, opts ...Option) *Handler {
	o := options{historyEntries: DefaultHistoryEntries, keepAlive: DefaultKeepAlive, log: slog.Default()}
	for _, fn := range opts {
		fn(&o)
	}
	h := &Handler{srv: srv, opts: o, mux: http.NewServeMux()}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(fmt.Sprintf("statuspage: embedded files: %v", err)) // the embed directive guarantees it
	}
	files := http.FileServerFS(sub)
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	})
	h.mux.HandleFunc("GET /api/state", h.serveState)
	h.mux.HandleFunc("GET /events", h.serveEvents)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:")
	h.mux.ServeHTTP(w, r)
}

// state renders the current state as {"pins": ..., "history": ...,
// "contracts": ...}.
func (h *Handler) state(ctx context.Context) ([]byte, error) {
	pins, err := h.srv.GetPins(ctx, &rollpinv1.GetPinsRequest{})
	if err != nil {
		return nil, fmt.Errorf("statuspage: read pins: %w", err)
	}
	hist := &rollpinv1.GetHistoryResponse{}
	if h.opts.historyEntries > 0 {
		if hist, err = h.newestHistory(ctx); err != nil {
			return nil, err
		}
	}
	contracts, err := h.srv.ListContracts(ctx, &rollpinv1.ListContractsRequest{})
	if err != nil {
		return nil, fmt.Errorf("statuspage: read contract marks: %w", err)
	}
	mo := protojson.MarshalOptions{EmitUnpopulated: true}
	cj, err := mo.Marshal(contracts)
	if err != nil {
		return nil, fmt.Errorf("statuspage: encode contract marks: %w", err)
	}
	pj, err := mo.Marshal(pins)
	if err != nil {
		return nil, fmt.Errorf("statuspage: encode pins: %w", err)
	}
	hj, err := mo.Marshal(hist)
	if err != nil {
		return nil, fmt.Errorf("statuspage: encode history: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(`{"pins":`)
	b.Write(pj)
	b.WriteString(`,"history":`)
	b.Write(hj)
	b.WriteString(`,"contracts":`)
	b.Write(cj)
	fmt.Fprintf(&b, `,"now":%q}`, time.Now().UTC().Format(time.RFC3339Nano))
	return b.Bytes(), nil
}

// newestHistory returns the newest historyEntries entries, oldest first.
func (h *Handler) newestHistory(ctx context.Context) (*rollpinv1.GetHistoryResponse, error) {
	req := &rollpinv1.GetHistoryRequest{PageSize: 1000}
	var all []*rollpinv1.HistoryEntry
	for {
		resp, err := h.srv.GetHistory(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("statuspage: read history: %w", err)
		}
		all = append(all, resp.GetEntries()...)
		if n := h.opts.historyEntries; len(all) > n {
			all = all[len(all)-n:]
		}
		if resp.GetNextPageToken() == "" {
			return &rollpinv1.GetHistoryResponse{Entries: all}, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func (h *Handler) serveState(w http.ResponseWriter, r *http.Request) {
	b, err := h.state(r.Context())
	if err != nil {
		h.opts.log.Warn("status page state", "err", err)
		http.Error(w, "pind cannot read its state now; retry", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// serveEvents streams a "state" event now and after every change of the
// Server's state (coalesced: a burst of changes sends the latest state).
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	poke, cancel := h.srv.Subscribe()
	defer cancel()
	// History entries are recorded after the change they describe: follow
	// them too, so the timeline is current.
	wctx, wcancel := context.WithCancel(r.Context())
	defer wcancel()
	hist := h.srv.WatchHistory(wctx)
	ka := time.NewTicker(h.opts.keepAlive)
	defer ka.Stop()
	var last []byte
	send := func() error {
		b, err := h.state(r.Context())
		if err != nil {
			return err
		}
		if last != nil && bytes.Equal(lastBody(b), lastBody(last)) {
			return nil
		}
		last = b
		if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(); err != nil {
		h.opts.log.Debug("status page event stream", "err", err)
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.srv.Done():
			return
		case _, ok := <-hist:
			if !ok {
				hist = nil // etcd watch gone; the state still updates
				continue
			}
			if err := send(); err != nil {
				h.opts.log.Debug("status page event stream", "err", err)
				return
			}
		case <-poke:
			if err := send(); err != nil {
				h.opts.log.Debug("status page event stream", "err", err)
				return
			}
		case <-ka.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// lastBody strips the "now" field of a state, for comparisons.
func lastBody(b []byte) []byte {
	if i := bytes.LastIndex(b, []byte(`,"now":`)); i >= 0 {
		return b[:i]
	}
	return b
}
