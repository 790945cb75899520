// Command controller-manager runs the host's two controllers for member clusters:
// clusterhealth probes every Cluster through the connection cluster-apiserver proxies
// through and writes its status (Ready, AgentAvailable, CredentialsExpiring, version,
// node count, zones, identity); clustercleanup keeps a finalizer on every Cluster and, when
// one is deleted, revokes its Agent token and deletes the credentials Secret kubectl-ksmc
// join made for it. It serves /metrics and the health checks on its secure port
// (internal/secureserving). Run two replicas: a Lease elects the one that runs the
// controllers; both serve the port.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	"kubesphere.io/multicluster/cmd/controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewCommand()))
}
