#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit tests and the integration tests, which
# start their own private Podman services. Installs Podman & co. first if they are missing.
set -euo pipefail
PD_REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$PD_REPO"
. scripts/lib.sh

ensure_system_packages
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked
