package localenv

import (
	"context"
	"strconv"
	"time"
)

func (e *Env) startKubeAPIServer(cluster string) error {
	p := e.pki
	s := p.serving[cluster+"-kube-apiserver"]
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(e.Ports.Etcd),
		"--etcd-prefix=/" + cluster, // one etcd serves every cluster
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(e.portOf(cluster)),
		"--tls-cert-file=" + s.cert, "--tls-private-key-file=" + s.key,
		"--client-ca-file=" + p.cas[cluster].CertFile,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + p.sa[cluster].cert,
		"--service-account-signing-key-file=" + p.sa[cluster].key,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		// Endpoints may not hold 127.0.0.1; nothing in these clusters calls the service.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
	}
	if cluster == "host" {
		fp := p.client["front-proxy-client"]
		args = append(args,
			"--requestheader-client-ca-file="+p.cas["front-proxy"].CertFile,
			"--requestheader-allowed-names=front-proxy-client",
			"--requestheader-username-headers=X-Remote-User",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--requestheader-uid-headers=X-Remote-Uid",
			"--proxy-client-cert-file="+fp.cert, "--proxy-client-key-file="+fp.key)
	}
	return e.start(cluster, "kube-apiserver", "kube-apiserver", args...)
}

// StartKubeAPIServer (re)starts the kube-apiserver of cluster ("host" or a member) and
// waits until it is ready: tests stop a member's API server and bring it back.
func (e *Env) StartKubeAPIServer(ctx context.Context, cluster string) error {
	if err := e.Stop(cluster + "-kube-apiserver"); err != nil {
		return err
	}
	if err := e.startKubeAPIServer(cluster); err != nil {
		return err
	}
	return e.waitReady(ctx, cluster+"-kube-apiserver", e.clusterURL(cluster)+"/readyz", 120*time.Second)
}

func (e *Env) portOf(cluster string) int {
	if cluster == "host" {
		return e.Ports.Host
	}
	return e.Ports.Members[cluster]
}
