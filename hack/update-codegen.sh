#!/usr/bin/env bash
# Regenerates every generated file: deepcopy/conversion/defaults beside the API types, and
# the OpenAPI definitions, clientset, listers, informers and apply configurations under
# generated/. hack/verify-codegen.sh runs this on a copy and fails on any difference.
# Every group under apis/ (clusters, appstore) is found by its tags, so a new group needs no
# change here: +k8s:deepcopy-gen, conversion-gen, defaulter-gen and openapi-gen in doc.go,
# +genclient on the served kinds.
set -o errexit -o nounset -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${ROOT}"
MODULE=kubesphere.io/multicluster
BOILERPLATE="${ROOT}/hack/boilerplate.go.txt"
# The generators are built at the version pinned in go.mod, into the gitignored _output/.
export GOBIN="${ROOT}/_output/bin/codegen"
CODEGEN_PKG=$(go list -m -f '{{.Dir}}' k8s.io/code-generator)
source "${CODEGEN_PKG}/kube_codegen.sh"

kube::codegen::gen_helpers --boilerplate "${BOILERPLATE}" "${ROOT}/apis"

# openapi-gen reports API-rule violations, including some inside apimachinery's own types;
# the known list is checked in and verify-codegen.sh fails when it changes.
kube::codegen::gen_openapi \
  --output-dir "${ROOT}/generated/openapi" \
  --output-pkg "${MODULE}/generated/openapi" \
  --report-filename "${ROOT}/hack/api-rule-violations.list" \
  --update-report \
  --output-model-name-file zz_generated.model_name.go \
  --boilerplate "${BOILERPLATE}" \
  "${ROOT}/apis"

kube::codegen::gen_client \
  --with-watch \
  --with-applyconfig \
  --applyconfig-openapi-schema <(go run ./hack/models-schema) \
  --output-dir "${ROOT}/generated" \
  --output-pkg "${MODULE}/generated" \
  --boilerplate "${BOILERPLATE}" \
  "${ROOT}/apis"
