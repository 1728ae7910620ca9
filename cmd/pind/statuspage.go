package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/rollpin/rollpin/pinsvc"
	"github.com/rollpin/rollpin/pinsvc/statuspage"
)

// startStatusPage serves the read-only status page on --http-listen (nil,
// nil without it), with the gRPC listener's TLS settings: HTTPS with
// --tls-cert/--tls-key, client certificates required with --tls-ca. Serve
// errors go to serveErr.
func startStatusPage(o *options, srv *pinsvc.Server, log *slog.Logger, serveErr chan<- error) (net.Addr, *http.Server, error) {
	if o.httpListen == "" {
		return nil, nil, nil
	}
	tc, err := httpTLS(o)
	if err != nil {
		return nil, nil, err
	}
	lis, err := net.Listen("tcp", o.httpListen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w (change --http-listen)", o.httpListen, err)
	}
	if tc != nil {
		lis = tls.NewListener(lis, tc)
	}
	hs := &http.Server{
		Handler:           statuspage.New(srv, statuspage.WithLogger(log)),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := hs.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("status page: %w", err)
		}
	}()
	return lis.Addr(), hs, nil
}

// httpTLS returns the status page's TLS configuration, the gRPC one's
// twin (nil: plaintext).
func httpTLS(o *options) (*tls.Config, error) {
	if o.tlsCert == "" && o.tlsKey == "" {
		return nil, nil
	}
	c, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if o.tlsCA != "" {
		pool, err := loadPool(o.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
