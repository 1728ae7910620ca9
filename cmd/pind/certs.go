package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// reloadInterval is how often certificate files are checked for changes:
// at most once per interval, on a TLS handshake.
const reloadInterval = time.Second

// certFiles serves a certificate, its key and a CA bundle from files and
// reloads them when they change on disk, so that certificates are rotated
// without restarting pind. A change that does not load (a half-written key,
// a cert and key that do not match) keeps the last good material and is
// retried on a later handshake.
type certFiles struct {
	certPath, keyPath, caPath string

	mu        sync.Mutex
	checked   time.Time
	stamp     string // sizes and mod times of the files last loaded
	cert      *tls.Certificate
	pool      *x509.CertPool
	lastError error
}

// newCertFiles loads the files once (an error here stops pind) and returns
// the reloader. Empty paths are not loaded.
func newCertFiles(certPath, keyPath, caPath string) (*certFiles, error) {
	c := &certFiles{certPath: certPath, keyPath: keyPath, caPath: caPath}
	if err := c.load(c.stampNow()); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certFiles) stampNow() string {
	var b bytes.Buffer
	for _, p := range []string{c.certPath, c.keyPath, c.caPath} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

func (c *certFiles) load(stamp string) error {
	var cert *tls.Certificate
	if c.certPath != "" || c.keyPath != "" {
		kp, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
		if err != nil {
			return err
		}
		cert = &kp
	}
	var pool *x509.CertPool
	if c.caPath != "" {
		p, err := loadPool(c.caPath)
		if err != nil {
			return err
		}
		pool = p
	}
	c.cert, c.pool, c.stamp = cert, pool, stamp
	return nil
}

// current returns the certificate and pool, reloading them first when the
// files changed since the last load.
func (c *certFiles) current() (*tls.Certificate, *x509.CertPool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= reloadInterval {
		c.checked = now
		if stamp := c.stampNow(); stamp != c.stamp {
			c.lastError = c.load(stamp)
		}
	}
	return c.cert, c.pool
}

// serverConfig returns a TLS server configuration that presents the current
// certificate and, with a CA bundle, requires and verifies client
// certificates against the current bundle.
func (c *certFiles) serverConfig() *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, pool := c.current()
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		if pool != nil {
			cfg.ClientCAs = pool
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		return cfg, nil
	}
	return base
}

// clientConfig returns a TLS client configuration that presents the current
// certificate (if any) on each handshake and verifies the server against the
// current CA bundle (if any, else the system roots), so that both rotate
// without a restart. crypto/tls reads RootCAs once per configuration, so the
// verification it would do is switched off and done in VerifyConnection
// instead, against the bundle as it is now: the same chain check, and the
// server's name checked against the name dialled. crypto/tls does not tell
// VerifyConnection an IP address dialled (it sends no SNI for one), so a
// connection without a name must present a certificate valid for one of
// hosts, the hosts of the configured endpoints.
func (c *certFiles) clientConfig(hosts []string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	cert, _ := c.current()
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _ := c.current()
			return cert, nil
		}
	}
	if c.caPath == "" {
		return cfg // system roots, verified by crypto/tls
	}
	cfg.InsecureSkipVerify = true // verified below, against the current bundle
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		_, pool := c.current()
		return verifyServer(cs, pool, hosts)
	}
	return cfg
}

// verifyServer checks the server's chain against roots and its name against
// the name the client dialled or, when crypto/tls does not report one (an
// IP address was dialled), against one of hosts.
func verifyServer(cs tls.ConnectionState, roots *x509.CertPool, hosts []string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("pind: etcd presented no certificate")
	}
	names := hosts
	if cs.ServerName != "" {
		names = []string{cs.ServerName}
	}
	if len(names) == 0 {
		return errors.New("pind: no server name to verify etcd's certificate against")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
	for _, ic := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(ic)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("pind: etcd's certificate: %w", err)
	}
	var err error
	for _, n := range names {
		if err = leaf.VerifyHostname(n); err == nil {
			return nil
		}
	}
	return fmt.Errorf("pind: etcd's certificate: %w", err)
}
