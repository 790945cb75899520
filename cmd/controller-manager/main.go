// Command controller-manager runs the host's controllers: for now the health and status
// of every member cluster. Run two replicas; a Lease elects the one that works.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	"kubesphere.io/multicluster/cmd/controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewCommand()))
}
