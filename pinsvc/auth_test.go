package pinsvc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestWriteNeedsToken(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli, WithAdminToken("s3cret"))
	c := ts.cli
	req := &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.3", Force: true}

	_, err := c.SetPin(ctxT(t), req)
	wantCode(t, "SetPin without a token", err, codes.Unauthenticated)
	_, err = c.SetPin(withToken(ctxT(t), "guess"), req)
	wantCode(t, "SetPin with a wrong token", err, codes.PermissionDenied)
	_, err = c.Hold(ctxT(t), &rollpinv1.HoldRequest{Service: testSvc, Reason: "x"})
	wantCode(t, "Hold without a token", err, codes.Unauthenticated)
	_, err = c.Release(withToken(ctxT(t), "guess"), &rollpinv1.ReleaseRequest{Service: testSvc})
	wantCode(t, "Release with a wrong token", err, codes.PermissionDenied)
	_, err = c.SetMode(ctxT(t), &rollpinv1.SetModeRequest{Service: testSvc, Mode: rollpinv1.PinMode_PIN_MODE_MANUAL})
	wantCode(t, "SetMode without a token", err, codes.Unauthenticated)

	r, err := c.SetPin(withToken(ctxT(t), "s3cret"), req)
	if err != nil {
		t.Fatalf("SetPin with the token: %v", err)
	}
	if by := r.GetState().GetPin().GetUpdatedBy(); by != "admin-token" {
		t.Errorf("updated_by = %q, want admin-token", by)
	}
	// Reads stay open.
	if _, err := c.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{}); err != nil {
		t.Fatalf("GetPins without a token: %v", err)
	}
}

// testPKI is a CA and certificates issued by it.
type testPKI struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	serial int64
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, caKey: key, pool: pool, serial: 1}
}

// issue returns a certificate for cn (a server certificate for 127.0.0.1
// when server is set).
func (p *testPKI) issue(t testing.TB, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serveMTLS serves srv over TLS on a loopback port, with a certificate of
// pki and client certificates verified against it when given; dial returns
// a client presenting certs.
func serveMTLS(t testing.TB, srv *Server, pki *testPKI) (dial func(certs ...tls.Certificate) rollpinv1.PinServiceClient) {
	t.Helper()
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pki.issue(t, "pind", true)},
		ClientCAs:    pki.pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	})))
	rollpinv1.RegisterPinServiceServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return func(certs ...tls.Certificate) rollpinv1.PinServiceClient {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			RootCAs: pki.pool, Certificates: certs, MinVersion: tls.VersionTLS12,
		})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return rollpinv1.NewPinServiceClient(conn)
	}
}

func TestWriteWithClientCertificateIdentity(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	srv, err := NewServer(cli, WithWriterIdentities("ops"), WithServerLogger(quietLogger()), WithLeaseTTL(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetController(nil)
	if err := srv.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	pki := newTestPKI(t)
	dial := serveMTLS(t, srv, pki)
	req := &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.3", Force: true}
	_, err = dial().SetPin(ctxT(t), req)
	wantCode(t, "SetPin without a client certificate", err, codes.Unauthenticated)
	_, err = dial(pki.issue(t, "intruder", false)).SetPin(ctxT(t), req)
	wantCode(t, "SetPin as a client not in writer identities", err, codes.PermissionDenied)
	r, err := dial(pki.issue(t, "ops", false)).SetPin(context.Background(), req)
	if err != nil {
		t.Fatalf("SetPin as ops: %v", err)
	}
	if by := r.GetState().GetPin().GetUpdatedBy(); by != "ops" {
		t.Errorf("updated_by = %q, want ops", by)
	}
}
