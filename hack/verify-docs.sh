#!/usr/bin/env bash
# Fails when a docs/<command>-flags.md does not match the command's --help.
set -o errexit -o nounset -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "${TMP}"' EXIT
"${ROOT}/hack/update-docs.sh" "${TMP}"
status=0
for f in "${TMP}"/*.md; do
  if ! diff -u "${ROOT}/docs/$(basename "${f}")" "${f}"; then
    echo "docs/$(basename "${f}") is out of date: run hack/update-docs.sh" >&2
    status=1
  fi
done
exit ${status}
