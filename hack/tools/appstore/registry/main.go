// Command registry is Docker Distribution's registry with only what the local
// environment uses: filesystem storage and htpasswd authentication. Upstream's command
// also links the S3, Azure and GCS drivers, which nothing here may reach.
package main

import (
	"os"

	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	if err := registry.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
