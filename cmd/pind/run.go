package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/rollpin/rollpin/internal/buildinfo"
	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// ready reports where a running pind listens.
type ready struct {
	GRPC    net.Addr
	Metrics net.Addr // nil without --metrics-listen
	Page    net.Addr // nil without --http-listen
	Etcd    []string // etcd endpoints in use (the embedded one's, if any)
}

// run runs pind until ctx ends, then shuts down gracefully: it marks the
// health service NOT_SERVING, ends the watch and register streams (clients
// reconnect elsewhere), waits up to --shutdown-timeout for unary calls, and
// stops the embedded etcd. onReady, if not nil, is called once pind serves.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, onReady func(ready)) error {
	o, err := parseFlags(args, getenv, os.Stdout) // --help and --version print to stdout
	if err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(stderr, "pind", buildinfo.Read())
		return flag.ErrHelp
	}
	log, err := newLogger(o, stderr)
	if err != nil {
		return err
	}

	if err := checkSecurity(o); err != nil {
		return err
	}
	regIDs, err := parseRegisterIdentities(o.registerIdentities)
	if err != nil {
		return err
	}
	creds, err := serverCreds(o)
	if err != nil {
		return err
	}
	endpoints := splitList(o.etcdEndpoints)
	if len(endpoints) == 0 {
		e, unlock, err := startEmbeddedEtcd(ctx, o, log)
		if err != nil {
			return err
		}
		defer unlock()
		defer func() {
			e.Close()
			<-e.Server.StopNotify()
		}()
		endpoints = []string{"http://" + e.Clients[0].Addr().String()}
		log.Info("embedded etcd started", "data_dir", o.dataDir, "endpoint", endpoints[0])
	}
	cli, err := newEtcdClient(o, endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := pinsvc.NewServer(cli,
		pinsvc.WithPrefix(o.prefix),
		pinsvc.WithSettle(o.settle),
		pinsvc.WithLeaseTTL(o.leaseTTL),
		pinsvc.WithAdminToken(o.adminToken),
		pinsvc.WithWriterIdentities(splitList(o.writerIdentities)...),
		pinsvc.WithRegisterToken(o.registerToken),
		pinsvc.WithRegisterIdentities(regIDs),
		pinsvc.WithName(o.name),
		pinsvc.WithServerLogger(log),
		pinsvc.WithRegisterer(reg),
		pinsvc.WithAuditRetention(o.historyEntries, o.historyAge),
	)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = srv.Start(startCtx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted while loading the state from etcd")
		}
		return fmt.Errorf("start: %w (is etcd reachable at %v?)", err, endpoints)
	}
	defer srv.Close()

	grpcMetrics := grpcprom.NewServerMetrics()
	reg.MustRegister(grpcMetrics)
	gs := grpc.NewServer(grpc.Creds(creds),
		grpc.ChainUnaryInterceptor(grpcMetrics.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(grpcMetrics.StreamServerInterceptor()))
	rollpinv1.RegisterPinServiceServer(gs, srv)
	reflection.Register(gs) // grpcurl and other tools discover the API
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	grpcMetrics.InitializeMetrics(gs)

	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (change --listen)", o.listen, err)
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- gs.Serve(lis) }()

	var metricsAddr net.Addr
	var hsrv *http.Server
	if o.metricsListen != "" {
		ml, err := net.Listen("tcp", o.metricsListen)
		if err != nil {
			gs.Stop()
			return fmt.Errorf("listen on %s: %w (change --metrics-listen)", o.metricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		hsrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		metricsAddr = ml.Addr()
		go func() {
			if err := hsrv.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("metrics: %w", err)
			}
		}()
	}
	pageAddr, psrv, err := startStatusPage(o, srv, log, serveErr)
	if err != nil {
		gs.Stop()
		return err
	}
	srv.ReportHealth(hs) // SERVING while pind is in contact with etcd
	log.Info("pind serving", "listen", lis.Addr().String(), "metrics", fmt.Sprint(metricsAddr), "etcd", endpoints,
		"tls", o.tlsCert != "", "mtls", o.tlsCA != "", "writes_open", o.adminToken == "" && o.writerIdentities == "")
	if onReady != nil {
		onReady(ready{GRPC: lis.Addr(), Metrics: metricsAddr, Page: pageAddr, Etcd: endpoints})
	}

	select {
	case <-ctx.Done():
		err = nil
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	}
	log.Info("pind shutting down")
	hs.Shutdown()
	srv.Close() // ends the streams so GracefulStop can finish
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(o.shutdownTimeout):
		gs.Stop()
	}
	for _, h := range []*http.Server{hsrv, psrv} {
		if h != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			h.Shutdown(sctx)
			cancel()
		}
	}
	return err
}

func newLogger(o *options, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch o.logFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", o.logFormat)
}

// startEmbeddedEtcd starts a single-member etcd in o.dataDir, after taking
// the data directory's lock (a second pind on the same directory fails at
// once). etcd's own logs go to log at WARN and above. It gives up when ctx
// ends (SIGINT, SIGTERM). unlock releases the lock once etcd has stopped.
func startEmbeddedEtcd(ctx context.Context, o *options, log *slog.Logger) (e *embed.Etcd, unlock func(), err error) {
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create --data-dir: %w", err)
	}
	unlock, err = lockDataDir(o.dataDir)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	cfg := embed.NewConfig()
	cfg.Name = "pind"
	cfg.Dir = o.dataDir
	cu := url.URL{Scheme: "http", Host: o.embeddedClient}
	pu := url.URL{Scheme: "http", Host: o.embeddedPeer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = "pind=" + pu.String()
	cfg.LogLevel = "warn"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(newSlogCore(log)).WithOptions(zap.IncreaseLevel(zap.WarnLevel)))
	cfg.AutoCompactionMode = "revision"
	cfg.AutoCompactionRetention = "10000"
	type started struct {
		e   *embed.Etcd
		err error
	}
	done := make(chan started, 1)
	go func() {
		e, err := embed.StartEtcd(cfg)
		done <- started{e, err}
	}()
	var st started
	select {
	case st = <-done:
	case <-ctx.Done():
		go func() { // etcd may still come up: stop it then
			if st := <-done; st.e != nil {
				st.e.Close()
			}
		}()
		return nil, nil, errors.New("interrupted while starting the embedded etcd")
	}
	if st.err != nil {
		return nil, nil, fmt.Errorf("start embedded etcd in %s: %w", o.dataDir, st.err)
	}
	e = st.e
	select {
	case <-e.Server.ReadyNotify():
		return e, unlock, nil
	case <-ctx.Done():
		e.Close()
		return nil, nil, errors.New("interrupted while starting the embedded etcd")
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, nil, fmt.Errorf("embedded etcd in %s not ready after 60s", o.dataDir)
	}
}

// checkSecurity refuses settings that silently do not do what they say:
// certificate identities without client certificates, and secrets sent in
// clear text.
func checkSecurity(o *options) error {
	for _, f := range []struct{ name, val string }{{"--writer-identities", o.writerIdentities}, {"--register-identities", o.registerIdentities}} {
		if f.val != "" && o.tlsCA == "" {
			return fmt.Errorf("%s needs --tls-ca (and --tls-cert, --tls-key): without client certificates no caller has an identity", f.name)
		}
	}
	if (o.adminToken != "" || o.registerToken != "") && o.tlsCert == "" && !o.insecureToken {
		return errors.New("--admin-token and --register-token need TLS (--tls-cert, --tls-key): over plaintext the token crosses the network in clear text; pass --insecure-token to accept that")
	}
	return nil
}

func newEtcdClient(o *options, endpoints []string) (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Username:    o.etcdUsername,
		Password:    o.etcdPassword,
		Logger:      zap.NewNop(),
	}
	if o.etcdCert != "" || o.etcdKey != "" || o.etcdCA != "" {
		files, err := newCertFiles(o.etcdCert, o.etcdKey, o.etcdCA)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert/--etcd-key/--etcd-ca: %w", err)
		}
		cfg.TLS = files.clientConfig(endpointHosts(endpoints))
	} else {
		cfg.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return cli, nil
}

// endpointHosts returns the host names or addresses of etcd endpoints
// ("https://etcd-0:2379", "etcd-1:2379", "unix:///run/etcd.sock").
func endpointHosts(endpoints []string) []string {
	var hosts []string
	for _, ep := range endpoints {
		if u, err := url.Parse(ep); err == nil && u.Host != "" {
			ep = u.Host
		}
		if h, _, err := net.SplitHostPort(ep); err == nil {
			ep = h
		}
		if ep != "" {
			hosts = append(hosts, ep)
		}
	}
	return hosts
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// serverCreds returns the gRPC transport credentials: plaintext without
// --tls-cert, TLS with it, mutual TLS with --tls-ca. Certificate, key and CA
// bundle are reloaded when their files change.
func serverCreds(o *options) (credentials.TransportCredentials, error) {
	if o.tlsCert == "" && o.tlsKey == "" {
		if o.tlsCA != "" {
			return nil, errors.New("--tls-ca needs --tls-cert and --tls-key")
		}
		return insecure.NewCredentials(), nil
	}
	if o.tlsCert == "" || o.tlsKey == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	files, err := newCertFiles(o.tlsCert, o.tlsKey, o.tlsCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key/--tls-ca: %w", err)
	}
	return credentials.NewTLS(files.serverConfig()), nil
}
