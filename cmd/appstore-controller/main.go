// Command appstore-controller installs the App Store's ApplicationReleases: for every
// cluster a release is placed on, it runs Helm (v4, as a library) against that member
// through cluster-apiserver's /clusters/<name>/ path, impersonating the user recorded as
// the release's requester, and writes what the member's Helm records say into the
// release's status. It holds no member credential and no repository credential. Run two
// replicas: a Lease elects the active one.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	"kubesphere.io/multicluster/cmd/appstore-controller/app"
)

func main() {
	os.Exit(cli.Run(app.NewCommand()))
}
