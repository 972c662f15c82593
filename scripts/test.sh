#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit tests and the integration tests, which
# start their own private Podman services, the Debian package's install test, then the
# integration suite again on Podman 5.8.
# Installs Podman & co. first if they are missing.
set -euo pipefail
PD_REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$PD_REPO"
. scripts/lib.sh

ensure_system_packages
ensure_editor_tools
# tests/integration/quadlet.rs runs Podman 5.8's Quadlet generator from the debootstrap root
# that compat.sh uses: build it first (once; cached under target/compat/).
. scripts/compat-lib.sh
prepare_root 5.8
export POCKET_DOCK_QUADLET_ROOT="$COMPAT_DIR/5.8/root"
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Tests skipped for a capability the engine lacks are listed here (none on Podman).
skips=target/test-skips.txt
mkdir -p target
rm -f "$skips"
set +e
POCKET_DOCK_TEST_SKIPS="$PD_REPO/$skips" cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
[ -s "$skips" ] && { echo "skipped by declared capability:"; sed 's/^/  /' "$skips"; }
# cargo prints one "test result" line per test binary, the last one for (empty) doc-tests;
# close with the totals so that the summary is the last thing said.
totals=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
     END { printf "total on the host Podman: %d passed, %d failed", p, f }' "$log")

# The Debian package (docs/testing.md): the release build packaged by scripts/package.sh,
# installed with apt into a clean Debian 12 root, where `pocket-dock --version` and
# `doctor` must pass. PD_SKIP_PACKAGE=1 leaves it out (a quick local run).
package_status=0
if [ "${PD_SKIP_PACKAGE:-0}" != 1 ]; then
    echo
    echo "==> the Debian package (scripts/package-test.sh)"
    ./scripts/package-test.sh || package_status=$?
fi

# The newest Podman too (docs/testing.md): the whole integration suite against Podman 5.8
# from Debian sid, in a debootstrap root cached under target/compat/. PD_SKIP_COMPAT=1
# leaves it out (a quick local run).
compat_status=0
if [ "${PD_SKIP_COMPAT:-0}" != 1 ]; then
    echo
    echo "==> integration suite on Podman 5.8 (scripts/compat.sh 5.8)"
    COMPAT_WRITE_DOCS=0 ./scripts/compat.sh 5.8 || compat_status=$?
fi
echo
echo "$totals"
[ "${PD_SKIP_COMPAT:-0}" = 1 ] || echo "Podman 5.8: $(grep -E '^(passed|failed)=' target/compat/results/5.8.env 2>/dev/null | tr '\n' ' ')"
if [ "${PD_SKIP_PACKAGE:-0}" != 1 ]; then
    if [ "$package_status" -eq 0 ]; then echo "Debian package: passed"; else echo "Debian package: FAILED (exit $package_status)"; fi
fi
[ "$status" -eq 0 ] || exit "$status"
[ "$package_status" -eq 0 ] || exit "$package_status"
exit "$compat_status"
