// Command cluster-apiserver serves the clusters.kubesphere.io API as an aggregated API
// server on the host cluster.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	"kubesphere.io/multicluster/cmd/cluster-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewCommand()))
}
