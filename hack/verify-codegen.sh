#!/usr/bin/env bash
# Fails when generated code (or the API-rule violation list) is stale: regenerates into a
# scratch copy of the tree and compares.
set -o errexit -o nounset -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "${TMP}"' EXIT
# Copy the sources only; build output stays behind but the generator binaries are reused.
tar -C "${ROOT}" --exclude=./_output --exclude=./.git -cf - . | tar -C "${TMP}" -xf -
mkdir -p "${TMP}/_output/bin" && ln -s "${ROOT}/_output/bin/codegen" "${TMP}/_output/bin/codegen" 2>/dev/null || true
mkdir -p "${ROOT}/_output/bin/codegen"
(cd "${TMP}" && ./hack/update-codegen.sh >/dev/null)
if ! diff -Naupr -x _output "${ROOT}/apis" "${TMP}/apis" ||
   ! diff -Naupr "${ROOT}/generated" "${TMP}/generated" ||
   ! diff -Nau "${ROOT}/hack/api-rule-violations.list" "${TMP}/hack/api-rule-violations.list"; then
  echo "Generated code is out of date: run hack/update-codegen.sh" >&2
  exit 1
fi
echo "Generated code is up to date."
