package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/rollpin/rollpin/internal/bearer"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// parseEndpoints splits a comma list of host:port addresses.
func parseEndpoints(s string) ([]string, error) {
	var out []string
	for ep := range strings.SplitSeq(s, ",") {
		ep = strings.TrimSpace(ep)
		if ep == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return nil, fmt.Errorf("endpoint %q: want host:port (--endpoints)", ep)
		}
		out = append(out, ep)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no pind endpoint given: set --endpoints host:port")
	}
	return out, nil
}

// endpointList returns the configured endpoints, for messages.
func (a *app) endpointList() []string {
	eps, err := parseEndpoints(a.endpoints)
	if err != nil {
		return []string{a.endpoints}
	}
	return eps
}

// pind returns the PinService client, connecting on first use. The
// connection tries the endpoints in order and moves to the next one when a
// pind is unreachable.
func (a *app) pind() (rollpinv1.PinServiceClient, error) {
	if a.client != nil {
		return a.client, nil
	}
	eps, err := parseEndpoints(a.endpoints)
	if err != nil {
		return nil, &usageError{err: err}
	}
	creds := insecure.NewCredentials()
	if a.tlsCA != "" || a.tlsCert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if a.tlsCA != "" {
			pem, err := os.ReadFile(a.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("read --tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca %s holds no PEM certificate", a.tlsCA)
			}
			cfg.RootCAs = pool
		}
		if a.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(a.tlsCert, a.tlsKey)
			if err != nil {
				return nil, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		creds = credentials.NewTLS(cfg)
	}
	addrs := make([]resolver.Address, len(eps))
	for i, ep := range eps {
		host, _, _ := net.SplitHostPort(ep)
		addrs[i] = resolver.Address{Addr: ep, ServerName: host}
	}
	r := manual.NewBuilderWithScheme("pindctl")
	r.InitialState(resolver.State{Addresses: addrs})
	opts := []grpc.DialOption{
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(creds),
		// Reconnect within seconds of pind's return (grpc's default backoff
		// grows to two minutes), as watch's own retries do.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	if a.token != "" {
		if a.tlsCA == "" && a.tlsCert == "" && !a.insecureToken {
			return nil, &usageError{err: fmt.Errorf("--token needs TLS (--tls-ca): over plaintext the token crosses the network in clear text; pass --insecure-token to send it anyway")}
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer.Credentials(a.token, !a.insecureToken)))
	}
	conn, err := grpc.NewClient(r.Scheme()+":///pind", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to pind at %s: %w", a.endpoints, err)
	}
	a.conn = conn
	a.client = rollpinv1.NewPinServiceClient(conn)
	return a.client, nil
}

// call returns a context bounded by --timeout for one request.
func (a *app) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}
