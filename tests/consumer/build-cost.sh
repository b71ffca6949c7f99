#!/usr/bin/env bash
# What depending on the facade costs a new user: a clean debug build of a crate depending on
# it, in a fresh target directory, for each dependency line below (crates compiled, seconds).
# "reqwest defaults" adds reqwest with its default features, which is the dependency set the
# facade had when it took reqwest's defaults: the figure before the TLS features.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
facade="phasetwo-invitations = { path = \"$root/invitations\""
configs=(
  "reqwest defaults|$facade }
reqwest = \"0.13\""
  "default features (rustls)|$facade }"
  "native-tls|$facade, default-features = false, features = [\"native-tls\"] }"
)
# `build-cost.sh default` measures only the facade with its default features (for the bench).
if [ "${1:-}" = default ]; then
  configs=("${configs[1]}")
fi
printf '%-28s %8s %8s\n' "dependency" "crates" "seconds"
for config in "${configs[@]}"; do
  name=${config%%|*}
  deps=${config#*|}
  dir="$work/consumer"
  rm -rf "$dir" && mkdir -p "$dir/src"
  printf '[package]\nname = "consumer"\nversion = "0.0.0"\nedition = "2024"\n\n[dependencies]\n%s\n\n[workspace]\n' "$deps" > "$dir/Cargo.toml"
  echo 'fn main() { let _ = phasetwo_invitations::Client::builder(); }' > "$dir/src/main.rs"
  # Resolve first (not timed), with the workspace's versions where they apply.
  cp "$root/Cargo.lock" "$dir/Cargo.lock"
  (cd "$dir" && cargo fetch --quiet)
  started=$(date +%s.%N)
  crates=$(cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build 2>&1 | grep -c '^ *Compiling ')
  ended=$(date +%s.%N)
  printf '%-28s %8d %8.1f\n' "$name" "$crates" "$(awk "BEGIN { print $ended - $started }")"
done
