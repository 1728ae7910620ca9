package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rollpin/rollpin/pinsvc"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// pind is a pin service on an embedded single-member etcd, in this process:
// what `pind --data-dir DIR` runs as a daemon.
type pind struct {
	etcd *embed.Etcd
	cli  *clientv3.Client
	srv  *pinsvc.Server
	grpc *grpc.Server
	addr string
	// client talks to the PinService, as pindctl would.
	conn   *grpc.ClientConn
	client rollpinv1.PinServiceClient
	// prefix is the etcd key prefix the PinService uses.
	prefix string
}

// startPind starts etcd in dir and a PinService on 127.0.0.1.
func startPind(ctx context.Context, dir string, settle time.Duration, log *slog.Logger) (_ *pind, err error) {
	p := &pind{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	cfg := embed.NewConfig()
	cfg.Name = "demo"
	cfg.Dir = filepath.Join(dir, "etcd")
	// Port 0: etcd picks free ports (a single member needs no peer).
	cu, pu := url.URL{Scheme: "http", Host: "127.0.0.1:0"}, url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = true // a throw-away demo store: no need to wait for the disk
	if p.etcd, err = embed.StartEtcd(cfg); err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-p.etcd.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		return nil, errors.New("embedded etcd not ready after 30s")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.cli, err = clientv3.New(clientv3.Config{
		Endpoints:   []string{"http://" + p.etcd.Clients[0].Addr().String()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	p.prefix = pinsvc.DefaultPrefix
	if p.srv, err = pinsvc.NewServer(p.cli, pinsvc.WithSettle(settle), pinsvc.WithLeaseTTL(5*time.Second),
		pinsvc.WithName("pind-demo"), pinsvc.WithServerLogger(log)); err != nil {
		return nil, err
	}
	if err := p.srv.Start(ctx); err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.addr = lis.Addr().String()
	p.grpc = grpc.NewServer()
	rollpinv1.RegisterPinServiceServer(p.grpc, p.srv)
	go p.grpc.Serve(lis)
	if p.conn, err = grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return nil, err
	}
	p.client = rollpinv1.NewPinServiceClient(p.conn)
	return p, nil
}

// close stops everything started, in reverse order.
func (p *pind) close() {
	if p.conn != nil {
		p.conn.Close()
	}
	if p.grpc != nil {
		p.grpc.Stop()
	}
	if p.srv != nil {
		p.srv.Close()
	}
	if p.cli != nil {
		p.cli.Close()
	}
	if p.etcd != nil {
		p.etcd.Close()
		<-p.etcd.Server.StopNotify()
	}
}
