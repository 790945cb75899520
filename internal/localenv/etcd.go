package localenv

import (
	"context"
	"path/filepath"
	"strconv"
	"time"
)

// EtcdURL is the shared etcd the kube-apiservers use.
func (e *Env) EtcdURL() string { return "http://127.0.0.1:" + strconv.Itoa(e.Ports.Etcd) }

func (e *Env) startEtcd(ctx context.Context) error {
	client := e.EtcdURL()
	peer := "http://127.0.0.1:" + strconv.Itoa(e.Ports.EtcdPeer)
	if err := e.start("host", "etcd", "etcd",
		"--name=local", "--data-dir="+filepath.Join(e.Dir, "data", "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=local="+peer, "--listen-metrics-urls=",
		"--quota-backend-bytes=4294967296", "--log-level=warn"); err != nil {
		return err
	}
	return e.waitReady(ctx, "host-etcd", client+"/health", 60*time.Second)
}
