#!/usr/bin/env bash
# Builds the upstream components of the local environment from the pinned tools module
# (hack/tools/go.mod: k8s.io/kubernetes v1.36.3, etcd v3.6.x, kwok v0.8.0) into
# _output/bin/, and copies kwok's "fast" node and pod stages beside them (the node
# heartbeat stage is internal/localenv's own); and the App Store's helm CLI and registry
# from hack/tools/appstore. A stamp per tools module skips its build when nothing changed
# (a cold build takes ~10 minutes on 2 cores, ~3 of them the App Store's).
set -o errexit -o nounset -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Absolute, because the cold build below changes directory before the App Store's stamp reads it.
SELF="${ROOT}/hack/$(basename "${BASH_SOURCE[0]}")"
BIN="${ROOT}/_output/bin"

# up_to_date STAMP WANT BINARY...: the stamp says WANT and every binary is there.
up_to_date() {
  local stamp=$1 want=$2
  shift 2
  [[ -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]] || return 1
  for b in "$@"; do
    [[ -x "${BIN}/${b}" ]] || return 1
  done
}

build_appstore_tools() {
  local stamp="${BIN}/.appstore-tools-stamp" want
  want=$(cat "${ROOT}/hack/tools/appstore/go.mod" "${ROOT}/hack/tools/appstore/go.sum" "${SELF}" | sha256sum | cut -d' ' -f1)
  if up_to_date "${stamp}" "${want}" helm registry; then
    echo "App Store tools are up to date in ${BIN}"
    return
  fi
  mkdir -p "${BIN}"
  echo "building helm and registry"
  local helm_version
  helm_version=$(cd "${ROOT}/hack/tools/appstore" && go list -m -f '{{.Version}}' helm.sh/helm/v4)
  (cd "${ROOT}/hack/tools/appstore" &&
    go build -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=${helm_version}" -o "${BIN}/helm" helm.sh/helm/v4/cmd/helm &&
    go build -ldflags "-s -w" -o "${BIN}/registry" ./registry)
  echo "${want}" > "${stamp}"
}

STAMP="${BIN}/.tools-stamp"
WANT=$(cat "${ROOT}/hack/tools/go.mod" "${ROOT}/hack/tools/go.sum" | sha256sum | cut -d' ' -f1)
if up_to_date "${STAMP}" "${WANT}" etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; then
  echo "upstream tools are up to date in ${BIN}"
  build_appstore_tools
  exit 0
fi

mkdir -p "${BIN}"
cd "${ROOT}/hack/tools"
K8S_VERSION=v1.36.3
# Without the stamp every component reports v0.0.0-master.
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36 -X k8s.io/component-base/version.gitTreeState=clean"
echo "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl ${K8S_VERSION}"
go build -ldflags "${LDFLAGS}" -o "${BIN}/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
echo "building etcd and kwok"
go build -ldflags "-s -w" -o "${BIN}/etcd" go.etcd.io/etcd/server/v3
go build -ldflags "-s -w" -o "${BIN}/kwok" sigs.k8s.io/kwok/cmd/kwok
KWOK_DIR=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
rm -rf "${BIN}/kwok-stages" && mkdir -p "${BIN}/kwok-stages"
for s in node/fast/node-initialize pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
  cp "${KWOK_DIR}/kustomize/stage/${s}.yaml" "${BIN}/kwok-stages/$(basename "${s}").yaml"
done
chmod u+w "${BIN}/kwok-stages/"*
echo "${WANT}" > "${STAMP}"
build_appstore_tools
