package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rollpin/rollpin/internal/etcdtest"
)

// A second pind on the same --data-dir fails at once with an error naming
// the lock and the process holding it, instead of waiting for etcd's own
// database lock forever.
func TestSecondPindOnTheSameDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startDaemon(t, []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--lease-ttl", "2s"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", dir}, func(string) string { return "" }, io.Discard, nil)
	if ctx.Err() != nil {
		t.Fatalf("second pind on %s still starting after 30s (waiting for etcd's lock?)", dir)
	}
	lock := filepath.Join(dir, lockFileName)
	want := fmt.Sprintf("process %d holds the lock %s", os.Getpid(), lock)
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("second pind on the same --data-dir: %v, want one line containing %q", err, want)
	}
}

// SIGINT or SIGTERM while pind waits for etcd ends the start, saying so,
// rather than blaming etcd.
func TestInterruptDuringStart(t *testing.T) {
	t.Parallel()
	// A listener that accepts and never answers: etcd calls hang.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--etcd-endpoints", "http://" + lis.Addr().String()}, func(string) string { return "" }, io.Discard, nil)
	}()
	time.Sleep(500 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "interrupted") || strings.Contains(err.Error(), "reachable") {
			t.Fatalf("run after an interrupt during start = %v, want an error saying it was interrupted", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return 20s after the interrupt")
	}
}

// A certificate replaced on disk is served on the next handshake, without
// a restart.
func TestCertificatesReloadWithoutRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, caPath, _ := writeCert(t, dir, "ca", nil, false)
	_, certPath, keyPath := writeCert(t, dir, "pind", &ca, true)
	c := etcdtest.Start(t)
	addr := startDaemonTLS(t, []string{"--listen", "127.0.0.1:0", "--etcd-endpoints", strings.Join(c.Endpoints(), ","), "--tls-cert", certPath, "--tls-key", keyPath})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(mustRead(t, caPath))
	serial := func() string {
		conn, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	// Rotate: issue a new certificate into the same files.
	rot := t.TempDir()
	_, newCert, newKey := writeCert(t, rot, "pind", &ca, true)
	for _, f := range [][2]string{{newCert, certPath}, {newKey, keyPath}} {
		if err := os.Rename(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for serial() == before {
		if time.Now().After(deadline) {
			t.Fatalf("pind still serves certificate %s 20s after it was replaced on disk", before)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// etcd's own log records reach pind's slog logger, in its format.
func TestEtcdLogsGoToSlog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	z := zap.New(newSlogCore(log)).With(zap.String("member", "pind"))
	z.Debug("hidden")
	z.Warn("slow fdatasync", zap.Duration("took", 2*time.Second))
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log output %q is not one JSON record: %v", buf.String(), err)
	}
	if rec["msg"] != "slow fdatasync" || rec["level"] != "WARN" || rec["component"] != "etcd" || rec["member"] != "pind" || rec["took"] == nil {
		t.Fatalf("record = %v, want msg, WARN level, component=etcd and the fields", rec)
	}
}

func FuzzParseRegisterIdentities(f *testing.F) {
	for _, s := range []string{"", "a=*", "volume=acme.volume.v1.*,volume=acme.types.v1.T", "=x", "a=", "a=b..c", "a=.*", "a=1b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseRegisterIdentities(s)
		if err != nil {
			return
		}
		for id, pats := range m {
			if id == "" || len(pats) == 0 {
				t.Fatalf("parseRegisterIdentities(%q) = %v: empty identity or no pattern", s, m)
			}
			for _, p := range pats {
				if checkRegisterPattern(p) != nil || strings.ContainsAny(p, ",= ") {
					t.Fatalf("parseRegisterIdentities(%q) accepted pattern %q", s, p)
				}
			}
		}
	})
}
