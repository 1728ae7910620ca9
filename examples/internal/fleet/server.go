package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"

	"github.com/rollpin/rollpin/interceptor"
	"github.com/rollpin/rollpin/pinsvc/pinclient"
)

// ServerConfig configures Serve.
type ServerConfig struct {
	// Listen is the TCP address to serve on ("127.0.0.1:0" for any port).
	Listen string
	// Pind are the pind endpoints the instance registers with.
	Pind []string
	// ID identifies the instance in pind.
	ID string
	// Build is the API version of the binary, reported to pind and in
	// reports.
	Build string
	// Drain bounds the graceful stop; calls still running after it are
	// cancelled. Zero means 5 s.
	Drain time.Duration
	// ReportEvery is the period of server reports; zero means 250 ms.
	ReportEvery time.Duration
	// Logger receives diagnostics (default slog.Default()).
	Logger *slog.Logger
}

// Serve runs a gRPC server with the rollpin server interceptors, registered
// with pind as a live instance, until ctx is done; then it stops accepting
// calls, waits for those in flight (at most cfg.Drain) and only then
// deregisters from pind, so the pin cannot rise while this instance still
// answers. It returns an error when the instance cannot listen or pind
// refuses it (fencing: its version is below the pin).
func Serve(ctx context.Context, cfg ServerConfig, rep *Reporter, tally *Tally, register func(*grpc.Server)) error {
	if cfg.Drain <= 0 {
		cfg.Drain = 5 * time.Second
	}
	if cfg.ReportEvery <= 0 {
		cfg.ReportEvery = 250 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer lis.Close()
	obs := NewObserver(tally)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(countUnary(tally), interceptor.UnaryServerInterceptor(serverOptions(obs, log)...)),
		grpc.ChainStreamInterceptor(countStream(tally), interceptor.StreamServerInterceptor(serverOptions(obs, log)...)),
	)
	register(srv)

	pins, err := pinclient.NewClient(cfg.Pind,
		pinclient.WithInsecure(), // pind on loopback
		pinclient.WithLogger(log),
		pinclient.WithBackoff(50*time.Millisecond, time.Second),
		pinclient.WithRegistration(pinclient.Registration{
			ID:       cfg.ID,
			Services: pinclient.ServicesOf(srv),
			Build:    "volume " + cfg.Build,
			Address:  lis.Addr().String(),
		}))
	if err != nil {
		return err
	}
	if err := pins.Start(); err != nil {
		return err
	}
	defer pins.Close()
	syncCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = pins.WaitForSync(syncCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("register %s with pind: %w", cfg.ID, err)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	report := func(kind string) Report {
		return Report{Kind: kind, Role: "server", ID: cfg.ID, Build: cfg.Build, Addr: lis.Addr().String(),
			Counts: tally.Counts(), Errors: tally.Errors()}
	}
	rep.Emit(report(KindReady))
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go rep.Every(rctx, cfg.ReportEvery, func() Report { return report(KindServer) })

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Drain: refuse new calls (GOAWAY), finish those in flight, then leave pind.
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(cfg.Drain):
		log.Warn("drain timed out; cancelling calls still running", "id", cfg.ID)
		srv.Stop()
		<-stopped
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		log.Warn("serve ended", "err", err)
	}
	rep.Emit(report(KindFinal))
	return nil
}

// countUnary counts the calls a server receives.
func countUnary(t *Tally) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		t.Inc(Calls)
		return handler(ctx, req)
	}
}

// countStream counts the streams a server receives.
func countStream(t *Tally) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		t.Inc(Calls)
		return handler(srv, ss)
	}
}
