package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/rollpin/rollpin/internal/etcdtest"
	"github.com/rollpin/rollpin/pinsvc"
)

// pki is a throw-away CA with a server and a client certificate, written
// as PEM files.
type pki struct {
	dir                string
	caFile             string
	pool               *x509.CertPool
	server             tls.Certificate
	clientCert, client string // PEM files of the client certificate and key
}

func newPKI(t *testing.T, clientCN string) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rollpin test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	sDER, sKey := issue(2, "pind", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.server = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := issue(3, clientCN, x509.ExtKeyUsageClientAuth, nil)
	p.clientCert = p.write(t, "client.pem", "CERTIFICATE", cDER)
	keyDER, err := x509.MarshalECPrivateKey(cKey)
	if err != nil {
		t.Fatal(err)
	}
	p.client = p.write(t, "client-key.pem", "EC PRIVATE KEY", keyDER)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMutualTLS(t *testing.T) {
	ca := newPKI(t, "ops")
	serverCreds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{ca.server},
		ClientCAs:    ca.pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	})
	p := startPindWith(t, etcdtest.Start(t).Client(t), []pinsvc.Option{pinsvc.WithWriterIdentities("ops"), pinsvc.WithRegisterToken(testToken)}, serverCreds,
		credentials.NewTLS(&tls.Config{RootCAs: ca.pool}))
	p.register(t, "vol-a", "acme.volume.v1=1.3", volSvc)

	// Reads need only the CA; the flags also come from the environment.
	r := pindctl(t, map[string]string{"PINDCTL_ENDPOINTS": p.addr, "PINDCTL_TLS_CA": ca.caFile}, "status")
	expect(t, r, exitOK, volSvc)

	// Writes need an allowed client certificate.
	r = pindctl(t, nil, "--endpoints", p.addr, "--tls-ca", ca.caFile, "pin", "set", "VolumeService", "1.3")
	expect(t, r, exitFailed, "pass an admin token with --token")
	r = pindctl(t, nil, "--endpoints", p.addr, "--tls-ca", ca.caFile, "--tls-cert", ca.clientCert, "--tls-key", ca.client, "pin", "set", "VolumeService", "1.3")
	expect(t, r, exitOK, "pin of "+volSvc+": none -> 1.3")
	if by := p.state(t, volSvc).GetPin().GetUpdatedBy(); by != "ops" {
		t.Errorf("pin written with the client certificate of ops: updated_by = %q, want ops", by)
	}

	// A client that does not trust pind's CA, or speaks plaintext, is told
	// to check the TLS flags.
	other := newPKI(t, "ops")
	r = pindctl(t, nil, "--endpoints", p.addr, "--tls-ca", other.caFile, "status")
	expect(t, r, exitFailed, "check the TLS flags (--tls-ca, --tls-cert, --tls-key)")
	r = pindctl(t, nil, "--endpoints", p.addr, "status")
	expect(t, r, exitFailed, "cannot reach pind at "+p.addr)
	expect(t, r, exitFailed, "it may be serving TLS: pass --tls-ca")

	r = pindctl(t, nil, "--endpoints", p.addr, "--tls-ca", filepath.Join(ca.dir, "missing.pem"), "status")
	expect(t, r, exitFailed, "read --tls-ca")
}
