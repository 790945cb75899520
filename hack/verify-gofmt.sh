#!/usr/bin/env bash
# Fails when a Go file is not gofmt'ed: every Go file git knows or would add, whatever
# module it is in (the nested hack/bench and hack/tools included). A file deleted but not
# yet committed is still in the index; it is skipped.
set -o errexit -o nounset -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${ROOT}"
files=()
while IFS= read -r -d '' f; do
  if [[ -e "${f}" ]]; then files+=("${f}"); fi
done < <(git ls-files -z --cached --others --exclude-standard '*.go')
bad=$(gofmt -l "${files[@]}" 2>&1 || true)
if [[ -n "${bad}" ]]; then
  echo "These files need gofmt -w:" >&2
  echo "${bad}" >&2
  exit 1
fi
