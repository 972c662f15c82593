# Task shortcuts. Each recipe calls a script that works without `just` too.

# list recipes
default:
    @just --list

# the demo: build, start a private Podman, run sandboxes
demo:
    ./scripts/demo.sh

# everything CI runs: fmt check, clippy, unit and real-Podman integration tests (4.3 and 5.8)
test:
    ./scripts/test.sh

# integration tests only (needs Podman installed)
integration *ARGS:
    cargo test --test integration {{ARGS}}

# the Debian package: target/package/pocket-dock_<version>-1_<arch>.deb (release build)
package *ARGS:
    ./scripts/package.sh {{ARGS}}

# installs that package into a clean Debian 12 root and runs it there (needs root)
package-test:
    ./scripts/package-test.sh

# format and lint
lint:
    cargo fmt --all
    cargo clippy --workspace --all-targets -- -D warnings

# benchmarks against raw Podman and podman-compose; results in target/bench/
bench:
    ./scripts/bench.sh

# leak check: 1,000 create/exec/remove cycles beside a running controller
leak-check:
    BENCH_ONLY=leak ./scripts/bench.sh

# the compatibility matrix: the integration suite on Podman 4.3, 5.4, 5.8 and Docker Engine
# 20.10, 26 (or one of them); `all` writes docs/compatibility.md
compat ENGINE="all" *ARGS:
    ./scripts/compat.sh {{ENGINE}} {{ARGS}}
