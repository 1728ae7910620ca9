package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// writeCert issues a certificate for cn signed by ca (self-signed CA when ca
// is nil) and writes cert and key as PEM files in dir.
func writeCert(t *testing.T, dir, cn string, ca *tls.Certificate, server bool) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	parent, signer := tmpl, any(key)
	switch {
	case ca == nil:
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	default:
		parent, _ = x509.ParseCertificate(ca.Certificate[0])
		signer = ca.PrivateKey
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+"-key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPath, keyPath
}

func TestMutualTLSAndWriterIdentities(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, caPath, _ := writeCert(t, dir, "ca", nil, false)
	_, certPath, keyPath := writeCert(t, dir, "pind", &ca, true)
	ops, _, _ := writeCert(t, dir, "ops", &ca, false)
	reader, _, _ := writeCert(t, dir, "reader", &ca, false)
	c := etcdtest.Start(t)
	d := startDaemonTLS(t, []string{"--listen", "127.0.0.1:0", "--etcd-endpoints", strings.Join(c.Endpoints(), ","),
		"--tls-cert", certPath, "--tls-key", keyPath, "--tls-ca", caPath, "--writer-identities", "ops,deploy-bot"})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(mustRead(t, caPath))
	dial := func(certs ...tls.Certificate) rollpinv1.PinServiceClient {
		conn, err := grpc.NewClient(d.String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: certs})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return rollpinv1.NewPinServiceClient(conn)
	}
	req := &rollpinv1.SetPinRequest{Service: svc, Manifest: "1.3", Force: true}
	if _, err := dial().GetPins(ctx(t), &rollpinv1.GetPinsRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("GetPins without a client certificate under mTLS: %v, want the handshake refused (UNAVAILABLE)", err)
	}
	if _, err := dial(reader).GetPins(ctx(t), &rollpinv1.GetPinsRequest{}); err != nil {
		t.Errorf("GetPins as reader: %v", err)
	}
	if _, err := dial(reader).SetPin(ctx(t), req); status.Code(err) != codes.PermissionDenied {
		t.Errorf("SetPin as reader: %v, want PERMISSION_DENIED", err)
	}
	r, err := dial(ops).SetPin(ctx(t), req)
	if err != nil || r.GetState().GetPin().GetUpdatedBy() != "ops" {
		t.Fatalf("SetPin as ops = %v, %v; want a pin updated by ops", r, err)
	}
}

func TestEtcdUserAndPassword(t *testing.T) {
	t.Parallel()
	c := etcdtest.Start(t)
	cli := c.Client(t)
	for _, step := range []func() error{
		func() error { _, err := cli.RoleAdd(ctx(t), "root"); return err },
		func() error { _, err := cli.UserAdd(ctx(t), "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx(t), "root", "root"); return err },
		func() error { _, err := cli.AuthEnable(ctx(t)); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("enable etcd auth: %v", err)
		}
	}
	args := []string{"--listen", "127.0.0.1:0", "--etcd-endpoints", strings.Join(c.Endpoints(), ","), "--etcd-username", "root"}
	err := run(ctx(t), append(args, "--etcd-password", "wrong"), func(string) string { return "" }, &syncBuffer{}, nil)
	if err == nil {
		t.Fatalf("run with a wrong etcd password succeeded")
	}
	d := startDaemon(t, args, map[string]string{"PIND_ETCD_PASSWORD": "rootpw"})
	if _, err := d.pins.SetPin(ctx(t), &rollpinv1.SetPinRequest{Service: svc, Manifest: "1.3", Force: true}); err != nil {
		t.Fatalf("SetPin through an authenticated etcd: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startDaemonTLS runs pind and returns its gRPC address.
func startDaemonTLS(t *testing.T, args []string) net.Addr {
	t.Helper()
	c, cancel := ctxCancel()
	readyc := make(chan ready, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() { done <- run(c, args, func(string) string { return "" }, logs, func(r ready) { readyc <- r }) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case r := <-readyc:
		return r.GRPC
	case err := <-done:
		t.Fatalf("run = %v before serving; logs:\n%s", err, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("not ready after 60s; logs:\n%s", logs)
	}
	return nil
}

// pind's etcd client verifies etcd against the CA bundle as it is on disk
// now: a new CA file (after etcd's certificates were reissued by a new CA)
// takes effect without a restart, and verification stays as strict as
// crypto/tls's (an unknown CA or another host name is refused).
func TestEtcdClientCARotatesWithoutRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca1, ca1Path, _ := writeCert(t, dir, "ca1", nil, false)
	ca2, ca2Path, _ := writeCert(t, dir, "ca2", nil, false)
	s1, _, _ := writeCert(t, dir, "etcd1", &ca1, true)
	s2, _, _ := writeCert(t, dir, "etcd2", &ca2, true)
	caPath := filepath.Join(dir, "etcd-ca.pem")
	if err := os.WriteFile(caPath, mustRead(t, ca1Path), 0o600); err != nil {
		t.Fatal(err)
	}

	var serving atomic.Pointer[tls.Certificate]
	serving.Store(&s1)
	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return serving.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()

	files, err := newCertFiles("", "", caPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := files.clientConfig([]string{"127.0.0.1"})
	dial := func(serverName string) error {
		c := cfg.Clone()
		c.ServerName = serverName // what gRPC sets from the endpoint
		conn, err := tls.Dial("tcp", lis.Addr().String(), c)
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial("127.0.0.1"); err != nil {
		t.Fatalf("handshake with etcd's certificate from the configured CA: %v", err)
	}
	if err := dial("localhost"); err == nil {
		t.Fatalf("handshake accepted a certificate for another name than the one dialled")
	}
	if err := verifyServer(tls.ConnectionState{PeerCertificates: []*x509.Certificate{mustParse(t, s1)}}, mustPool(t, ca1Path), []string{"10.9.9.9"}); err == nil {
		t.Fatalf("a certificate for 127.0.0.1 passed as one of the endpoints [10.9.9.9]")
	}
	serving.Store(&s2)
	if err := dial("127.0.0.1"); err == nil {
		t.Fatalf("handshake accepted a certificate from a CA not in the bundle")
	}
	// Rotate the bundle on disk.
	tmp := filepath.Join(dir, "etcd-ca.pem.new")
	if err := os.WriteFile(tmp, append(mustRead(t, ca2Path), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, caPath); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for dial("127.0.0.1") != nil {
		if time.Now().After(deadline) {
			t.Fatalf("etcd's certificate from the new CA still refused 20s after the bundle was replaced: %v", dial("127.0.0.1"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustParse(t *testing.T, c tls.Certificate) *x509.Certificate {
	t.Helper()
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustPool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	p, err := loadPool(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pind reaches an external etcd over TLS with --etcd-ca (verified by the
// rotating verifier above, through gRPC and the etcd client) and refuses
// one whose certificate its bundle does not trust.
func TestPindTalksToEtcdOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, caPath, _ := writeCert(t, dir, "ca", nil, false)
	_, certPath, keyPath := writeCert(t, dir, "etcd", &ca, true)
	_, otherCAPath, _ := writeCert(t, dir, "other-ca", nil, false)

	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir, cfg.LogLevel = "tls", t.TempDir(), "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client := url.URL{Scheme: "https", Host: "127.0.0.1:0"}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: certPath, KeyFile: keyPath}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start etcd with TLS: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready after 30s")
	}
	endpoint := "https://" + e.Clients[0].Addr().String()

	d := startDaemon(t, []string{"--listen", "127.0.0.1:0", "--etcd-endpoints", endpoint, "--etcd-ca", caPath}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.pins.SetPin(ctx, &rollpinv1.SetPinRequest{Service: svc, Manifest: "1.3", Force: true}); err != nil {
		t.Fatalf("SetPin through pind on etcd over TLS: %v", err)
	}

	// A bundle that does not hold etcd's CA: pind never reaches etcd.
	o := &options{etcdCA: otherCAPath}
	cli, err := newEtcdClient(o, []string{endpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	gctx, gcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer gcancel()
	if _, err := cli.Get(gctx, "x"); err == nil {
		t.Fatal("etcd client read through a certificate its CA bundle does not trust")
	}
}
