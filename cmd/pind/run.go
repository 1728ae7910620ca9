package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
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

	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// ready reports where a running pind listens.
type ready struct {
	GRPC    net.Addr
	Metrics net.Addr // nil without --metrics-listen
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
	log, err := newLogger(o, stderr)
	if err != nil {
		return err
	}

	creds, err := serverCreds(o)
	if err != nil {
		return err
	}
	endpoints := splitList(o.etcdEndpoints)
	if len(endpoints) == 0 {
		e, err := startEmbeddedEtcd(o)
		if err != nil {
			return err
		}
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
	srv, err := pinsvc.NewServer(cli, pinsvc.Config{
		Prefix:           o.prefix,
		Settle:           o.settle,
		LeaseTTL:         o.leaseTTL,
		AdminToken:       o.adminToken,
		WriterIdentities: splitList(o.writerIdentities),
		Name:             o.name,
		Logger:           log,
		Registerer:       reg,
	})
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = srv.Start(startCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("start: %w (is etcd reachable at %v?)", err, endpoints)
	}
	defer srv.Close()

	grpcMetrics := grpcprom.NewServerMetrics()
	reg.MustRegister(grpcMetrics)
	gs := grpc.NewServer(grpc.Creds(creds),
		grpc.ChainUnaryInterceptor(grpcMetrics.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(grpcMetrics.StreamServerInterceptor()))
	rollpinv1.RegisterPinServiceServer(gs, srv)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs) // grpcurl and other tools discover the API
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
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(rollpinv1.PinService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	log.Info("pind serving", "listen", lis.Addr().String(), "metrics", fmt.Sprint(metricsAddr), "etcd", endpoints,
		"tls", o.tlsCert != "", "mtls", o.tlsCA != "", "writes_open", o.adminToken == "" && o.writerIdentities == "")
	if onReady != nil {
		onReady(ready{GRPC: lis.Addr(), Metrics: metricsAddr, Etcd: endpoints})
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
	if hsrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		hsrv.Shutdown(sctx)
		cancel()
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

// startEmbeddedEtcd starts a single-member etcd in o.dataDir.
func startEmbeddedEtcd(o *options) (*embed.Etcd, error) {
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create --data-dir: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "pind"
	cfg.Dir = o.dataDir
	cu := url.URL{Scheme: "http", Host: o.embeddedClient}
	pu := url.URL{Scheme: "http", Host: o.embeddedPeer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = "pind=" + pu.String()
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.AutoCompactionMode = "revision"
	cfg.AutoCompactionRetention = "10000"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", o.dataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s not ready after 60s", o.dataDir)
	}
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
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.etcdCert != "" || o.etcdKey != "" {
			c, err := tls.LoadX509KeyPair(o.etcdCert, o.etcdKey)
			if err != nil {
				return nil, fmt.Errorf("--etcd-cert/--etcd-key: %w", err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		if o.etcdCA != "" {
			pool, err := loadPool(o.etcdCA)
			if err != nil {
				return nil, fmt.Errorf("--etcd-ca: %w", err)
			}
			tc.RootCAs = pool
		}
		cfg.TLS = tc
	} else {
		cfg.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return cli, nil
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
// --tls-cert, TLS with it, mutual TLS with --tls-ca.
func serverCreds(o *options) (credentials.TransportCredentials, error) {
	if o.tlsCert == "" && o.tlsKey == "" {
		if o.tlsCA != "" {
			return nil, errors.New("--tls-ca needs --tls-cert and --tls-key")
		}
		return insecure.NewCredentials(), nil
	}
	c, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
	if o.tlsCA != "" {
		pool, err := loadPool(o.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(tc), nil
}
