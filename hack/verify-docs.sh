#!/usr/bin/env bash
# Fails when docs/cluster-apiserver-flags.md does not match the command's --help.
set -o errexit -o nounset -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp)
trap 'rm -f "${TMP}"' EXIT
"${ROOT}/hack/update-docs.sh" "${TMP}"
if ! diff -u "${ROOT}/docs/cluster-apiserver-flags.md" "${TMP}"; then
  echo "docs/cluster-apiserver-flags.md is out of date: run hack/update-docs.sh" >&2
  exit 1
fi
