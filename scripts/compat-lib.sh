# The compatibility matrix's machinery, sourced by scripts/compat.sh and scripts/test.sh.
# Functions only. Expects PD_REPO set and scripts/lib.sh sourced.

COMPAT_DIR="$PD_REPO/target/compat"

# engine -> Debian release whose packages provide it (empty: the host's own packages).
engine_release() {
    case $1 in
        4.3|docker-20.10) echo "" ;;
        5.4|docker-26) echo trixie ;;
        5.8) echo sid ;;
    esac
}

# engine -> the packages its root needs.
engine_packages() {
    case $1 in
        5.4|5.8) echo "podman,runc,catatonit,ca-certificates,nftables,aardvark-dns,passt,uidmap" ;;
        docker-26) echo "docker.io,containerd,runc,ca-certificates,iptables" ;;
    esac
}

# engine -> podman or docker.
engine_kind() {
    case $1 in
        docker-*) echo docker ;;
        *) echo podman ;;
    esac
}

# Builds (once) the debootstrap root of an engine under target/compat/<engine>/root. A
# root is complete only when its stamp exists; a half-made one is thrown away.
prepare_root() {
    local engine=$1 release packages root stamp
    release=$(engine_release "$engine")
    packages=$(engine_packages "$engine")
    root="$COMPAT_DIR/$engine/root"
    stamp="$COMPAT_DIR/$engine/root.ready"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$release $packages" ]; then
        return 0
    fi
    have debootstrap || {
        echo "==> installing debootstrap"
        local install=(apt-get install -y -qq --no-install-recommends debootstrap)
        DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null 2>&1 || {
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null
        }
    }
    echo "==> debootstrap $release for $engine (once; cached in $root)"
    mkdir -p "$COMPAT_DIR/$engine"
    # A second try for a mirror that hiccups; a half-made root never counts (no stamp).
    local attempt
    for attempt in 1 2; do
        rm -rf "$root" "$stamp"
        debootstrap --variant=minbase --include="$packages" "$release" "$root" \
            >"$COMPAT_DIR/$engine/debootstrap.log" 2>&1 && break
        echo "    debootstrap attempt $attempt failed"
        [ "$attempt" = 2 ] || continue
        echo "error: debootstrap failed; the last lines of $COMPAT_DIR/$engine/debootstrap.log:" >&2
        tail -n 20 "$COMPAT_DIR/$engine/debootstrap.log" >&2
        return 1
    done
    echo "$release $packages" >"$stamp"
}


write_engine_settings() {
    local root="$COMPAT_DIR/$1/root"
    [ -d "$root/etc/containers" ] || return 0
    cp scripts/containers.conf "$root/etc/containers/containers.conf"
}

# The harness's rootless user (tests/integration/support/podman.rs): made before the
# engine's namespace starts, so that the root sees it (its /etc/passwd is the host's).
ROOTLESS_USER=pdtest

ensure_rootless_user() {
    id "$ROOTLESS_USER" >/dev/null 2>&1 || useradd --create-home "$ROOTLESS_USER"
}

# Starts the engine's namespace: a private mount namespace whose root is the debootstrap
# root, reached by pivot_root rather than chroot. (Under a chroot, runc's exec joins a
# container's mount namespace at that namespace's root, the host's /, and commands run
# on the host's filesystem: "chdir to cwd ... no such file or directory".) A holder
# process keeps the namespace alive; the wrappers enter it with nsenter.
start_engine_namespace() {
    local engine=$1 dir="$COMPAT_DIR/$1" root="$COMPAT_DIR/$1/root" i
    stop_engine_namespace "$engine"
    ensure_rootless_user
    # Emptied here, not by the redirection below: that one happens in the background
    # child, and the loop could read an earlier run's `ready` before it (and test the
    # host's engine instead).
    : >"$dir/namespace.log"
    unshare --mount --propagation private -- \
        bash -c "$(declare -f namespace_holder); namespace_holder $(printf %q "$root")" \
        >"$dir/namespace.log" 2>&1 &
    echo $! >"$dir/namespace.pid"
    disown
    for i in $(seq 1 100); do
        grep -q '^ready$' "$dir/namespace.log" 2>/dev/null && return 0
        kill -0 "$(cat "$dir/namespace.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "error: the $engine namespace did not start:" >&2
    cat "$dir/namespace.log" >&2
    return 1
}

# Runs inside the new namespace (self-contained: it is shipped with declare -f).
namespace_holder() {
    set -e
    local root=$1 f
    mount --bind "$root" "$root"
    mount --make-private "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
    mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
    mount -t tmpfs tmpfs "$root/run"
    # The harness keeps stores, sockets and workspaces under /tmp: the same folder here.
    mount --bind /tmp "$root/tmp"
    for f in passwd group subuid subgid; do
        [ -f "/etc/$f" ] || continue
        touch "$root/etc/$f"
        mount --bind "/etc/$f" "$root/etc/$f"
    done
    mkdir -p "$root/.host"
    cd "$root"
    pivot_root . .host
    cd /
    umount -l /.host
    echo ready
    exec sleep infinity
}

# Ends the namespace: its holder and whatever still runs inside it (conmons, dockerd).
stop_engine_namespace() {
    local dir="$COMPAT_DIR/$1" pid ns p
    [ -f "$dir/namespace.pid" ] || return 0
    pid=$(cat "$dir/namespace.pid")
    if ns=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null); then
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && kill -KILL "${p#/proc/}" 2>/dev/null
        done
    fi
    rm -f "$dir/namespace.pid"
    return 0
}

# Writes wrappers named like the engine's binaries that run them inside its namespace.
# `setpriv` is wrapped too: the harness drops to the rootless user with it, and only root
# may enter the namespace.
write_wrappers() {
    local engine=$1 root="$COMPAT_DIR/$1/root" bin="$COMPAT_DIR/$1/bin" tool
    rm -rf "$bin"
    mkdir -p "$bin"
    for tool in podman docker dockerd containerd setpriv; do
        local path=""
        [ -x "$root/usr/sbin/$tool" ] && path=/usr/sbin/$tool
        [ -x "$root/usr/bin/$tool" ] && path=/usr/bin/$tool
        [ -n "$path" ] || continue
        # The root's binary by its absolute path. PATH still names this folder, which is
        # visible inside the namespace too when the checkout lives under /tmp: a wrapper
        # run from inside (setpriv's podman, as the rootless user, who may not nsenter)
        # knows it by PD_COMPAT_INSIDE and runs the binary directly.
        printf '#!/bin/sh\n# Runs %s in the %s engine namespace (see scripts/compat-lib.sh).\n[ -z "${PD_COMPAT_INSIDE:-}" ] || exec %s "$@"\nPD_COMPAT_INSIDE=1 exec nsenter -t "$(cat %q)" -m -- %s "$@"\n' \
            "$tool" "$engine" "$path" "$COMPAT_DIR/$engine/namespace.pid" "$path" >"$bin/$tool"
        chmod +x "$bin/$tool"
    done
}

# The engine's version, from the Debian package that provides it (upstream part only).
engine_version() {
    local engine=$1 package=podman root=""
    [ "$(engine_kind "$engine")" = docker ] && package=docker.io
    [ -n "$(engine_release "$engine")" ] && root="$COMPAT_DIR/$engine/root"
    if [ -n "$root" ]; then
        chroot "$root" dpkg-query -W -f='${Version}' "$package"
    else
        dpkg-query -W -f='${Version}' "$package"
    fi | sed -E 's/^[0-9]+://; s/[+~-].*$//'
}

ensure_docker_host() {
    have dockerd && return 0
    echo "==> installing docker.io"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io containerd >/dev/null
}

# Builds the integration tests and prints the test binary's path. Every engine runs that
# one binary, so an edit to the sources while the matrix runs cannot change what is tested.
build_test_binary() {
    cargo test --locked --test integration --no-run --message-format=json 2>/dev/null |
        grep '"name":"integration"' | grep -o '"executable":"[^"]*"' | tail -n 1 |
        sed 's/^"executable":"//; s/"$//'
}

# Runs the integration suite against one engine; writes target/compat/results/<engine>.*
run_engine() {
    local engine=$1
    shift
    local results="$COMPAT_DIR/results" log skips version
    log="$results/$engine.log"
    skips="$results/$engine.skips"
    rm -f "$log" "$skips" "$results/$engine.env"
    echo
    echo "==> engine $engine"
    local path_prefix=""
    case $engine in
        4.3) ;;
        docker-20.10) ensure_docker_host ;;
        *)
            prepare_root "$engine" || { record_result "$engine" no "" 0 0 0 ""; return 1; }
            write_wrappers "$engine"
            write_engine_settings "$engine"
            start_engine_namespace "$engine" || { record_result "$engine" no "" 0 0 0 ""; return 1; }
            path_prefix="$COMPAT_DIR/$engine/bin:"
            ;;
    esac
    version=$(engine_version "$engine" 2>/dev/null || echo unknown)
    echo "    version $version"
    local started=$SECONDS status=0
    # shellcheck disable=SC2086 # COMPAT_FILTER is a list of words
    # Engines other than the host's run in a network namespace of their own (loopback
    # only, as the suite needs), so their bridges and firewall rules never meet the host's
    # or an earlier run's: a stale netavark rule makes every later teardown fail.
    local netns=()
    [ "$engine" = 4.3 ] || netns=(unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh)
    env PATH="$path_prefix$PATH" TMPDIR=/tmp RUST_BACKTRACE=0 \
        POCKET_DOCK_TEST_ENGINE="$(engine_kind "$engine")" POCKET_DOCK_TEST_SKIPS="$skips" \
        "${netns[@]}" "$COMPAT_TEST_BINARY" "$@" ${COMPAT_FILTER:-} >"$log" 2>&1 || status=$?
    [ -z "$path_prefix" ] || stop_engine_namespace "$engine"
    local passed failed skipped failed_tests
    passed=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed;?$/) p += $i } END { print p + 0 }' "$log")
    failed=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^failed;?$/) f += $i } END { print f + 0 }' "$log")
    # A skipped test returns early and so counts as passed to cargo: it is moved over.
    skipped=$( [ -f "$skips" ] && sort -u "$skips" | wc -l || echo 0)
    passed=$((passed - skipped))
    failed_tests=$(sed -n -E 's/^test (.*) \.\.\. FAILED$/\1/p' "$log" | sort | tr '\n' ' ')
    local ran=yes
    # No test result at all means the suite never ran (a build or harness failure).
    grep -q '^test result:' "$log" || { ran=no; failed=0; }
    [ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || [ "$ran" = no ] || ran=no
    record_result "$engine" "$ran" "$version" "$passed" "$failed" "$skipped" "$failed_tests"
    printf '    %s passed, %s failed, %s skipped by capability in %ss (log: %s)\n' \
        "$passed" "$failed" "$skipped" $((SECONDS - started)) "${log#"$PD_REPO"/}"
    if [ "$ran" = no ]; then
        echo "    the suite did not run to the end; the last lines of its log:"
        tail -n 15 "$log" | sed 's/^/    | /'
    fi
    [ -f "$skips" ] && sort -u "$skips" | sed 's/^/    skipped: /'
    [ -n "$failed_tests" ] && echo "    failed: $failed_tests"
    [ "$ran" = yes ] && [ "$failed" -eq 0 ]
}

record_result() {
    local file="$COMPAT_DIR/results/$1.env"
    {
        printf 'ran=%q\n' "$2"
        printf 'version=%q\n' "$3"
        printf 'passed=%q\n' "$4"
        printf 'failed=%q\n' "$5"
        printf 'skipped=%q\n' "$6"
        printf 'failed_tests=%q\n' "$7"
        printf 'date=%q\n' "$(date -u +%Y-%m-%d)"
    } >"$file"
}

result_field() {
    local file="$COMPAT_DIR/results/$1.env"
    [ -f "$file" ] || { echo ""; return 0; }
    (. "$file"; eval "echo \"\${$2:-}\"")
}

print_matrix() {
    echo
    printf '%-14s %-10s %-8s %7s %7s %8s\n' ENGINE VERSION RAN PASSED FAILED SKIPPED
    local engine
    for engine in "$@"; do
        printf '%-14s %-10s %-8s %7s %7s %8s\n' "$engine" "$(result_field "$engine" version)" \
            "$(result_field "$engine" ran)" "$(result_field "$engine" passed)" \
            "$(result_field "$engine" failed)" "$(result_field "$engine" skipped)"
    done
}

# The feature groups of the matrix: a name and the test modules that prove it.
COMPAT_FEATURES="apply+containers:apply,engine_containers,never_destroy,select,ports
exec+sessions:engine_exec,cli_exec,cli_session,cli_shell,cli_run
images+snapshots:images,engine_images
controller:controller
networks+tasks:networks,tasks
faults:faults,engine_faults,store_faults
gc:gc
rootless:rootless
status+events:status_wait,cli_events
sdk:sdk_examples
doctor+cli:cli_doctor,cli_spec,engine_system
untrusted:locked,egress,secrets,lifetime,cli_audit
travel:bundles,rebuild,registry,logs
export+import:export_kube,quadlet,import_compose,devcontainer"

# One matrix cell: how the tests of a feature group fared on an engine, from its log and
# its skips file. "ok (12)", "2 of 12 failed", "skipped: needs load-oci", "not run".
feature_cell() {
    local engine=$1 modules=$2 log="$COMPAT_DIR/results/$1.log" skips="$COMPAT_DIR/results/$1.skips"
    [ -f "$log" ] && [ "$(result_field "$engine" ran)" = yes ] || { echo "not run"; return 0; }
    awk -v modules="$modules" -v skips="$skips" '
        BEGIN {
            n = split(modules, m, ",")
            for (i = 1; i <= n; i++) wanted[m[i]] = 1
            while ((getline line < skips) > 0) {
                split(line, parts, ": ")
                skipped[parts[2]] = 1
                need[parts[2]] = parts[3]
            }
        }
        /^test .* \.\.\. (ok|FAILED)$/ {
            name = $2; split(name, p, "::")
            if (!(p[1] in wanted)) next
            total++
            if (name in skipped) { s++; needs[need[name]] = 1 }
            else if ($NF == "FAILED") f++
        }
        END {
            if (total == 0) { print "none"; exit }
            if (s == total) { line = ""; for (k in needs) line = line (line ? ", " : "") k; print "skipped: " line; exit }
            if (f > 0) printf "%d of %d failed", f, total - s
            else printf "ok (%d)", total - s
            if (s > 0) printf ", %d skipped", s
            print ""
        }' "$log"
}

# docs/compatibility.md, from the results of every engine.
write_compatibility_doc() {
    local engine feature name modules header sep
    cat <<'DOC'
# Compatibility

Which engines pocket-dock works with, how that is known, and what happens on one it does
not know. Written by `scripts/compat.sh all` (`just compat`) from its results; edit the
text in `scripts/compat-lib.sh`, not here.

DOC
    echo "## Matrix"
    echo
    echo "Run on $(date -u +%Y-%m-%d), Debian 12 host (kernel $(uname -r), cgroups $(stat -fc %T /sys/fs/cgroup | sed 's/tmpfs/v1/; s/cgroup2fs/v2/')), 2 cores."
    echo "Each cell is the integration suite's tests of that feature on that engine."
    echo
    header="| engine | version | passed | failed | skipped |"
    sep="|---|---|---:|---:|---:|"
    while IFS=: read -r name modules; do
        header="$header $name |"
        sep="$sep---|"
    done <<<"$COMPAT_FEATURES"
    echo "$header"
    echo "$sep"
    for engine in $ALL_ENGINES; do
        local row
        row="| $engine | $(result_field "$engine" version) | $(result_field "$engine" passed) | $(result_field "$engine" failed) | $(result_field "$engine" skipped) |"
        while IFS=: read -r name modules; do
            row="$row $(feature_cell "$engine" "$modules") |"
        done <<<"$COMPAT_FEATURES"
        echo "$row"
    done
    echo
    for engine in $ALL_ENGINES; do
        local failed skips="$COMPAT_DIR/results/$engine.skips"
        failed=$(result_field "$engine" failed_tests)
        [ -n "$failed" ] || [ -s "$skips" ] || continue
        echo "**$engine**"
        echo
        for name in $failed; do echo "- failed: \`$name\`"; done
        [ -s "$skips" ] && sort -u "$skips" | sed -E 's/^[a-z]+: ([a-z0-9_]+::[a-z0-9_]+)( \([^)]*\))?: needs ([^:]+): (.*)$/- skipped: `\1`\2, needs \3: \4/'
        echo
    done
    cat <<'DOC'
## Method

`scripts/compat.sh [4.3|5.4|5.8|docker-20.10|docker-26|all]` builds the integration tests
once and runs that one binary against each engine:

- **Podman 4.3.1** is the host's (Debian 12). The suite runs exactly as `scripts/test.sh`
  runs it.
- **Podman 5.4.2** (Debian trixie) and **5.8.6** (Debian sid) come from Debian packages in
  a `debootstrap --variant=minbase` root under `target/compat/<engine>/root`, built once and
  kept (about 3 minutes each). A private mount namespace pivots into that root; wrappers
  early in `PATH` run its `podman` and `setpriv` there with `nsenter`, and `/tmp`, where the
  harness keeps stores, sockets and workspaces, is the same folder inside and out.
- **Docker Engine 20.10** is Debian 12's `docker.io`; **Docker Engine 26.1** is trixie's, in
  a root like the Podman ones. The harness (`POCKET_DOCK_TEST_ENGINE=docker`) starts a
  private `dockerd` per service, with its own data root, socket and bridge, no iptables
  rules, `--live-restore` (containers outlive a daemon that dies, as they outlive a Podman
  service), and its own `containerd` beside it, as Debian's `docker.service` runs it.
- Every engine but the host's Podman runs inside a network namespace of its own (loopback
  only, which is all the suite needs), so bridges and firewall rules never meet the host's.
- A test that needs a capability the engine lacks asks the harness's declared table
  (`tests/integration/support/engine.rs`, fed by pocket-dock's own capability table) and
  returns early; the skip and its reason are recorded and listed above. Nothing else is
  skipped.

## Policy

- **Supported**: Podman 4.3 to 5.8 (rootful and rootless) and Docker Engine 20.10 to 26.1,
  the versions in this matrix. Podman rows must pass in full: `scripts/compat.sh` fails when
  one does not, and CI runs the whole suite on Podman 4.3 and on Podman 5.8.
- **Docker Engine** runs containers, exec, logs, volumes, events and the controller, and
  makes images too: builds through Docker's `/build` (the classic builder), snapshots
  through `/commit` (never pausing), the embedded base through `/images/load` (its archive
  carries Docker's `manifest.json` beside the OCI layout), exports through
  `/images/{name}/get`. What Docker cannot do is refused up front, by name: `image export`
  before Docker 25 (`export-oci`), and `image import` of a plain OCI archive (one without
  `manifest.json`, as Podman writes them) unless Docker keeps its images in containerd's
  store (`load-oci`). Kubernetes YAML is Podman's only.
- **An unknown version** (newer or older than the matrix): pocket-dock warns once at connect
  (`podman 6.0.0 is not a version pocket-dock was tested with ...`), `doctor` says so, and it
  carries on. Capabilities are still read from what the engine reports, so a missing one is
  refused by name rather than met as a failure halfway through.
- **Adding a version**: add it to `ALL_ENGINES` in `scripts/compat.sh` and its Debian
  release and packages in `scripts/compat-lib.sh`, widen `TESTED` in
  `controller/src/engine/capabilities.rs`, run `just compat`, fix what fails (in the product
  when the engine differs, in the test when the test was wrong), and commit the regenerated
  page.

## What differs between the engines, and how pocket-dock handles it

| change | engines | handling |
|---|---|---|
| compat API 1.41 → 1.44 | Podman 5.x, Docker 26 | pocket-dock speaks 1.41 (`/v1.41/...` paths), which both still serve; `doctor` shows the engine's |
| `Entrypoint` as an array, `StopSignal` as a name | Podman 5.x | pocket-dock sends the entrypoint as an array, which every version accepts, and reads neither back |
| events JSON | Podman 5.x | events are read raw, only `Type`, `Action` and the actor's `ID` and `Attributes`, which every version sends |
| several `label` filters AND-combined | Podman 5.x | ownership is checked again on every listed container, whichever combination the engine uses |
| failed pulls answered with 500/404 before the stream | Podman 5.x | mapped to the same typed pull failure as a failure in the stream |
| `commit` pauses by default | Podman 6 | pocket-dock always passes `pause=false` |
| netavark with nftables, pasta for rootless | Podman 5.x | nothing pocket-dock sets depends on the backend; `doctor` reports whether networks resolve names |
| a killed create leaves a storage-only container holding the name | Podman 4.3, 5.x (their words differ: 5.x says "external entity", 4.3 only "creating container storage: … already in use") | create removes that leftover (its name is pocket-dock's own hash-derived one, and Podman's database has no container of that name) and creates again |
| cgroups v1 deprecated | Podman 5.x | pocket-dock sets no cgroup-version-specific option; these runs are on cgroups v1 hosts with the deprecation warning |
| no `/libpod` endpoints | Docker | builds, commits, loads and exports take Docker's endpoints; listing falls back to `/containers/json` |
| OCI archives | Docker | Docker loads only archives with its `manifest.json` (classic image store) and writes OCI from 25: the embedded base carries both layouts; a plain OCI import or an export it cannot do is refused up front (`load-oci`, `export-oci`) with the fix named |
| no exit code or times in `/containers/json` | Docker | read by inspecting the exited containers (for back-off and status) |
| a finished exec keeps `CanRemove: false` and gets its `ExitCode` only at exit | Docker | an exit code on a stopped exec means exited, on Docker |
| `destroy` for a removed container; `die` can come before the listing shows the exit | Docker | `destroy` is a lifecycle event; an exit is looked at again 0.5 s later |
| a removal that a killed client began goes on in the daemon ("removal ... already in progress") | Docker | waits for it to finish instead of failing |
| the init (tini) has no pause mode | Docker | idle sandboxes run `sh -c 'while :; do sleep 3600; done'` under it; the image needs `sh` and `sleep` |
| a tmpfs mount that is also the `workdir` becomes root-only (Docker makes the folder 0755 first, and its runc keeps that mode on the tmpfs) | Docker 20.10 | known gap (Docker 26 is fine): give the workdir another path, or run as root. The untrusted example hits it |

## Rootless

Rootless Podman is tested on 4.3, 5.4 and 5.8: the harness runs a service as the dedicated
user `pdtest` and applies a workspace against it. Those tests give their containers no
network (`netns = "none"`): on these hosts `/dev/net/tun` is root-only (`crw------- root`),
so neither pasta (Podman 5's rootless default) nor slirp4netns can open a tap device for
the user. Rootless networking with pasta or slirp4netns is therefore the known gap of this
matrix; pocket-dock itself passes no network option that differs between them. Docker's
rootless mode is not tested (it needs rootlesskit and a user session).
DOC
}
