#!/usr/bin/env bash
# Packages the crates meant for crates.io (each one verified: built from its package alone),
# then builds and runs a crate outside the workspace against those packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo package --workspace --exclude build-tools --exclude invitations-tests --locked
# The workspace's target directory: dependencies already built there are reused.
CARGO_TARGET_DIR="$PWD/target" cargo run --quiet --manifest-path tests/consumer/Cargo.toml
