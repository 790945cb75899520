package appview

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

// mainIndex has the cases of naming: a plain chart, a chart that collides with another
// once lowercased (Redis, redis), one that is only lowercased (MyApp), a version with a
// character names may not hold (+) and one with capitals.
const mainIndex = `apiVersion: v1
entries:
  nginx:
  - name: nginx
    version: 2.0.0
    appVersion: "1.27.0"
    description: NGINX Open Source is a web server that can be also used as a reverse proxy, load balancer and cache.
    home: https://nginx.org
    keywords: [web, proxy]
    maintainers:
    - name: Ann
      email: ann@example.com
    created: "2024-03-01T10:00:00Z"
    digest: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
    urls:
    - nginx-2.0.0.tgz
  - name: nginx
    version: 1.0.0
    appVersion: "1.25.0"
    created: "2023-01-01T00:00:00Z"
    urls:
    - nginx-1.0.0.tgz
  Redis:
  - name: Redis
    version: 1.0.0
    created: "2023-06-01T00:00:00Z"
  redis:
  - name: redis
    version: 7.0.0+build.1
    created: "2023-05-01T00:00:00Z"
  - name: redis
    version: 7.0.0-RC1
  MyApp:
  - name: MyApp
    version: 0.1.0
`

const otherIndex = `apiVersion: v1
entries:
  nginx:
  - name: nginx
    version: 3.0.0
    created: "2024-05-01T00:00:00Z"
`

const (
	mainUID  = types.UID("5f0e7a52-3a52-4c1e-9d55-0c2f1a6b7e10")
	otherUID = types.UID("0b6f1d6e-8f0c-4d8c-a1c6-2f7d2c9e4a11")
	startRV  = 1000
)

func h(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(sum[:])[:10]
}

// Names of the fixture's objects, sorted.
var (
	upperRedis   = "main." + h("Redis")
	wantApps     = sortedNames("main.myapp", "main.nginx", "main.redis", upperRedis, "other.nginx")
	wantVersions = sortedNames("main.myapp.0.1.0", "main.nginx.1.0.0", "main.nginx.2.0.0",
		"main.redis."+h("7.0.0+build.1"), "main.redis.7.0.0-rc1", upperRedis+".1.0.0", "other.nginx.3.0.0")
)

func sortedNames(names ...string) []string {
	es := make([]entry, len(names))
	for i, n := range names {
		es[i].name = n
	}
	sortEntries(es)
	for i := range es {
		names[i] = es[i].name
	}
	return names
}

func parse(t *testing.T, s string) *index.Snapshot {
	t.Helper()
	snap, err := index.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func repo(t *testing.T, name string, uid types.UID, idx string) *catalog.Repo {
	return &catalog.Repo{Name: name, UID: uid, Source: appstore.RepoSourceIndex, Index: parse(t, idx), Synced: time.Now()}
}

// fixture is a catalog at rv 1002 with the Repos main and other, and the two storages.
func fixture(t *testing.T) (*catalog.Catalog, *REST, *REST) {
	t.Helper()
	c := catalog.New(startRV)
	apps, vers := NewStorage(c)
	c.Put(repo(t, "main", mainUID, mainIndex))
	c.Put(repo(t, "other", otherUID, otherIndex))
	return c, apps, vers
}

// Fixture is fixture for the HTTP tests of package appview_test.
func Fixture(t *testing.T) (*catalog.Catalog, *REST, *REST) { return fixture(t) }

// ChangedRepo is the Repo main with changedIndex.
func ChangedRepo(t *testing.T) *catalog.Repo { return repo(t, "main", mainUID, changedIndex) }

// WantApps are the fixture's Application names.
var WantApps = wantApps

// Hashed is the segment h names a chart or version by when it cannot be a name.
func Hashed(s string) string { return h(s) }
