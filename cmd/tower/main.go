// Command tower is the agent connection: `tower agent` runs on a member and dials out to
// `tower proxy`, which runs on the host and carries the host's requests to it.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	"kubesphere.io/multicluster/cmd/tower/app"
)

func main() {
	os.Exit(cli.Run(app.NewCommand()))
}
