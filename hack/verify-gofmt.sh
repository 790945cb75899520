#!/usr/bin/env bash
# Fails when a Go file is not gofmt'ed.
set -o errexit -o nounset -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${ROOT}"
bad=$(gofmt -l $(git ls-files --cached --others --exclude-standard '*.go') 2>&1 || true)
if [[ -n "${bad}" ]]; then
  echo "These files need gofmt -w:" >&2
  echo "${bad}" >&2
  exit 1
fi
