package localenv

import (
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig is the admin kubeconfig with a context per cluster.
func (e *Env) Kubeconfig() string { return filepath.Join(e.Dir, "kubeconfig") }

func (e *Env) writeKubeconfig(path, cluster string, creds pair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: e.clusterURL(cluster), CertificateAuthority: e.pki.cas[cluster].CertFile}
	cfg.AuthInfos[cluster] = &clientcmdapi.AuthInfo{ClientCertificate: creds.cert, ClientKey: creds.key}
	cfg.Contexts[cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: cluster}
	cfg.CurrentContext = cluster
	return clientcmd.WriteToFile(*cfg, path)
}

// writeKubeconfigs writes the admin kubeconfig (a context per cluster) and one kubeconfig
// per component.
func (e *Env) writeKubeconfigs() error {
	cfg := clientcmdapi.NewConfig()
	for _, c := range append([]string{"host"}, e.Members...) {
		cfg.Clusters[c] = &clientcmdapi.Cluster{Server: e.clusterURL(c), CertificateAuthority: e.pki.cas[c].CertFile}
		cfg.AuthInfos[c+"-admin"] = &clientcmdapi.AuthInfo{ClientCertificate: e.pki.admin[c].cert, ClientKey: e.pki.admin[c].key}
		cfg.Contexts[c] = &clientcmdapi.Context{Cluster: c, AuthInfo: c + "-admin"}
	}
	// <member>-via-host: the host's clusters/proxy path, as the host admin (and, for the
	// first member, as the developer).
	cfg.AuthInfos[DeveloperUser] = &clientcmdapi.AuthInfo{ClientCertificate: e.pki.client["host-"+DeveloperUser].cert, ClientKey: e.pki.client["host-"+DeveloperUser].key}
	for i, m := range e.Members {
		via := m + "-via-host"
		cfg.Clusters[via] = &clientcmdapi.Cluster{Server: e.ViaHostURL(m), CertificateAuthority: e.pki.cas["host"].CertFile}
		cfg.Contexts[via] = &clientcmdapi.Context{Cluster: via, AuthInfo: "host-admin"}
		if i == 0 {
			cfg.Contexts[via+"-"+DeveloperUser] = &clientcmdapi.Context{Cluster: via, AuthInfo: DeveloperUser}
		}
	}
	cfg.CurrentContext = "host"
	if err := clientcmd.WriteToFile(*cfg, e.Kubeconfig()); err != nil {
		return err
	}
	for id, creds := range e.pki.client {
		cluster := strings.SplitN(id, "-", 2)[0]
		if strings.HasPrefix(id, "front-proxy") || id == "host-"+DeveloperUser {
			continue
		}
		if err := e.writeKubeconfig(e.componentKubeconfig(id), cluster, creds); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) componentKubeconfig(id string) string {
	return filepath.Join(e.Dir, "pki", id+".kubeconfig")
}
