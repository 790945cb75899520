// Package embeddedetcd runs a single-member etcd inside the cluster-apiserver process, so
// that one process is a working install. HA installs point --etcd-servers at a real etcd.
package embeddedetcd

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Server is a running embedded etcd.
type Server struct {
	etcd *embed.Etcd
	// ClientURL is where the apiserver's storage client reaches it.
	ClientURL string
}

// Start starts an etcd member that keeps its data in dataDir and listens on ephemeral
// loopback ports only: nothing outside this machine (or pod) can reach it, and two servers
// on one machine never collide.
func Start(ctx context.Context, dataDir string) (*Server, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: data directory: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "cluster-apiserver"
	cfg.Dir = dataDir
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	// The apiserver compacts through the storage layer; keep the backend small on its own too.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1h"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: start in %s: %w", dataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd: not ready after 60s (data directory %s)", dataDir)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Server{etcd: e, ClientURL: "http://" + e.Clients[0].Addr().String()}, nil
}

// Stop stops etcd after the apiserver has stopped using it.
func (s *Server) Stop() {
	s.etcd.Close()
}
