// Command kubectl-ksmc joins member clusters to the host and removes them. Installed on
// PATH under this name it is also the kubectl plugin "kubectl ksmc".
package main

import (
	"os"

	"kubesphere.io/multicluster/cmd/kubectl-ksmc/app"
)

func main() {
	if err := app.NewCommand(os.Stdout).Execute(); err != nil {
		os.Exit(1)
	}
}
