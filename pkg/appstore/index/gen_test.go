package index

import "kubesphere.io/multicluster/pkg/appstore/index/indexgen"

// genIndex is an index shaped like Bitnami's with charts*versions entries (indexgen).
func genIndex(charts, versions int) []byte { return indexgen.Bitnami(charts, versions) }
