#!/usr/bin/env bash
# Runs Prism (an independent OpenAPI request/response validator), installing the pinned
# version into .prism/ (ignored by git) first when it is missing. Arguments go to Prism.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/.prism"
version="5.14.2"   # the newest Prism that runs on Node 20
installed="$dir/node_modules/@stoplight/prism-cli/package.json"

mkdir -p "$dir"
(
  # Tests start Prism in parallel: one installs, the others wait for it.
  flock 9
  if ! grep -qs "\"version\": \"$version\"" "$installed"; then
    echo "installing @stoplight/prism-cli@$version into .prism/" >&2
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
      "@stoplight/prism-cli@$version" >&2
  fi
) 9>"$dir/.install.lock"

exec "$dir/node_modules/.bin/prism" "$@"
