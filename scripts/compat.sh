#!/usr/bin/env bash
# The compatibility matrix: runs the integration suite against one engine, or all of them,
# prints one row per engine and writes docs/compatibility.md from the results.
#
#   scripts/compat.sh [4.3|5.4|5.8|docker-20.10|docker-26|all] [-- cargo test filters]
#
# Engines other than the host's Podman and Docker run from Debian packages in a
# debootstrap root cached under target/compat/<engine>/root (built once, about 3 minutes
# and 400 MB each). The root's binaries run in a private mount namespace that pivots into
# it: a `podman` (or `docker`/`dockerd`) wrapper early in PATH enters that namespace, and
# /tmp, where the harness keeps its stores, sockets and workspaces, is the same folder
# inside and out. Every engine but the host's Podman also gets a network namespace of its
# own for the run. Nothing on the host is mounted or changed outside target/ (Docker 20.10
# is installed from Debian's docker.io when missing).
#
# Exit status: 1 if a Podman engine failed a test or could not run the suite; Docker rows
# report what works there and do not fail the run.
#
# Environment: COMPAT_FILTER (test name filters, e.g. a smoke subset),
# COMPAT_WRITE_DOCS=0 to leave docs/compatibility.md alone (it is written only by `all`).
set -euo pipefail
PD_REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$PD_REPO"
. scripts/lib.sh
. scripts/compat-lib.sh

ALL_ENGINES="4.3 5.4 5.8 docker-20.10 docker-26"
selection=${1:-all}
shift || true
[ "${1:-}" = "--" ] && shift
[ "$selection" = all ] && selection=$ALL_ENGINES

for engine in $selection; do
    case " $ALL_ENGINES " in
        *" $engine "*) ;;
        *) echo "error: unknown engine '$engine'; choose from: $ALL_ENGINES all" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "error: the matrix needs root (debootstrap, mount and network namespaces); run it with sudo" >&2
    exit 2
fi
ensure_system_packages
ensure_editor_tools
# Build the test binary once, on the host, before any engine is prepared.
echo "==> building the integration tests"
COMPAT_TEST_BINARY=$(build_test_binary)
export COMPAT_TEST_BINARY

# tests/integration/quadlet.rs runs Podman 5.8's Quadlet generator whatever the engine under
# test: its root first (once; cached), so that a 4.3 or Docker row does not fail for want of it.
prepare_root 5.8
export POCKET_DOCK_QUADLET_ROOT="$COMPAT_DIR/5.8/root"

mkdir -p "$COMPAT_DIR/results"
for engine in $selection; do
    run_engine "$engine" "$@" || true
done

print_matrix $selection
if [ "${COMPAT_WRITE_DOCS:-1}" = 1 ] && [ "$selection" = "$ALL_ENGINES" ]; then
    write_compatibility_doc > docs/compatibility.md
    echo "wrote docs/compatibility.md"
fi
# Red if any engine that must pass failed: the Podman versions the project supports.
status=0
for engine in $selection; do
    case $engine in
        4.3|5.4|5.8) [ "$(result_field "$engine" failed)" = 0 ] && [ "$(result_field "$engine" ran)" = yes ] || status=1 ;;
    esac
done
exit $status
