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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# cargo prints one "test result" line per test binary, the last one for (empty) doc-tests;
# close with the totals so that the summary is the last thing said.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
     END { printf "\ntotal: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
