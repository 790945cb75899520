package localenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// StartControllerManager starts (or restarts) a controller-manager replica named
// host-<component>, waits until its secure port answers /healthz and until every member's
// Cluster shows Ready=True, which only the leader writes. Tests start a second replica to
// see the standby take over.
func (e *Env) StartControllerManager(ctx context.Context, component string) error {
	id := "host-" + component
	if err := e.Stop(id); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	// Delegated authentication and authorization go to the host with --kubeconfig, the
	// manifests' ServiceAccount's identity (system:auth-delegator, via artifacts/).
	s := e.pki.serving["host-controller-manager"]
	if err := e.start("host", component, "controller-manager", append([]string{
		"--kubeconfig=" + e.componentKubeconfig("host-controller-manager"),
		"--leader-elect-resource-namespace=" + ControllerManagerNamespace,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + s.cert, "--tls-private-key-file=" + s.key,
		// Federation acts on members through cluster-apiserver's own port.
		"--cluster-apiserver-url=" + e.ClusterAPIServerURL(), "--cluster-apiserver-ca-file=" + e.pki.cas["host"].CertFile}, e.towerDialerArgs()...)...); err != nil {
		return err
	}
	url := "https://127.0.0.1:" + strconv.Itoa(port)
	e.mu.Lock()
	e.metrics[id] = url
	e.mu.Unlock()
	if err := e.waitReady(ctx, id, url+"/healthz", 30*time.Second); err != nil {
		return err
	}
	return e.waitClustersReady(ctx, id, 60*time.Second)
}

// ControllerManagerURL is the HTTPS base URL of the /metrics, /healthz, /livez and /readyz
// of a controller-manager replica this Env started (id host-<component>), or "". Its
// certificate is signed by the host CA; /metrics needs a permitted caller (MetricsClient).
func (e *Env) ControllerManagerURL(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.metrics[id]
}

// ControllerManagers are the ids of the controller-manager replicas this Env started
// that have not been stopped, sorted.
func (e *Env) ControllerManagers() []string {
	e.mu.Lock()
	ids := make([]string, 0, len(e.metrics))
	for id := range e.metrics {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	ids = slices.DeleteFunc(ids, func(id string) bool { return e.Pid(id) == 0 })
	slices.Sort(ids)
	return ids
}

// MetricsClient is an HTTPS client that trusts the environment's CAs and presents
// MetricsReaderUser's client certificate: it may scrape /metrics and nothing else.
func (e *Env) MetricsClient() (*http.Client, error) {
	creds := e.pki.client["host-"+MetricsReaderUser]
	cert, err := tls.LoadX509KeyPair(creds.cert, creds.key)
	if err != nil {
		return nil, fmt.Errorf("%s's client certificate: %w", MetricsReaderUser, err)
	}
	client := e.httpClient()
	client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{cert}
	return client, nil
}

func (e *Env) waitClustersReady(ctx context.Context, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		out, err := e.Kubectl(ctx, "host", "", "get", "clusters", "-o",
			`jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{" "}{end}`)
		last = out
		if err == nil {
			ready := 0
			want := e.joined()
			if e.RegisterHost {
				want = append(want, "host")
			}
			for _, m := range want {
				if strings.Contains(" "+out, " "+m+"=True ") {
					ready++
				}
			}
			if ready == len(want) {
				e.logf("every member is Ready")
				return nil
			}
		}
		if pid := e.Pid(id); pid != 0 && e.exitedNow(pid) {
			return fmt.Errorf("%s exited; last lines of %s:\n%s", id, e.LogFile(id), e.logTail(id, 40))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("members not Ready after %s (%s); last lines of %s:\n%s", timeout, last, e.LogFile(id), e.logTail(id, 40))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
