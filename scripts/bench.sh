#!/usr/bin/env bash
# Benchmarks: pocket-dock against raw Podman and podman-compose, in the same run, on the
# same private Podman store. Prints hyperfine tables and writes them as markdown to
# target/bench/. Installs hyperfine (Debian) and podman-compose (PyPI) if missing.
# Not a test: nothing here asserts; docs/benchmarks.md records results and method.
set -euo pipefail
PD_REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$PD_REPO"
. scripts/lib.sh

RUNS=${RUNS:-30}
ensure_system_packages
have hyperfine || { apt-get install -y -qq hyperfine >/dev/null; }
have podman-compose || pip install -q podman-compose==1.6.0
cargo build --release --locked --quiet
pd_bin="${CARGO_TARGET_DIR:-$PD_REPO/target}/release/pocket-dock"

out="$PD_REPO/target/bench"
mkdir -p "$out"
unmount_under "$out/podman"
rm -rf "$out/podman"
trap stop_private_podman EXIT
start_private_podman "$out/podman"
image=localhost/pocket-dock-bench/busybox:1
scripts/busybox-rootfs.sh "$out/rootfs.tar"
"${PD_PODMAN[@]}" import -q "$out/rootfs.tar" "$image" >/dev/null

host="unix://$PD_SOCKET"
store="--root $out/podman/root --runroot $out/podman/run"
cat > "$out/compose.yaml" <<YAML
services:
  svc:
    image: $image
    command: ["sleep", "infinity"]
YAML

# An unchanged image chain: how fast "up to date" is known. The workshop example (embedded
# base + 3 builds, each on the previous), already built; the same three builds by podman
# with its layer cache, chained with --from; podman-compose build of the same contexts.
bench_images() {
    local ws="$out/workshop"
    rm -rf "$ws"; cp -r examples/workspaces/workshop "$ws"
    "$pd_bin" --host "$host" -C "$ws" apply >/dev/null
    local base; base=$("$pd_bin" --host "$host" -C "$ws" --output json image inspect base | sed 's/.*"image":"\([^"]*\)".*/\1/')
    "${PD_PODMAN[@]}" tag "$base" localhost/base:latest
    local chain="podman --url $host build -q --layers --from $base -t localhost/s1 $ws/steps/1-tools >/dev/null && podman --url $host build -q --layers --from localhost/s1 -t localhost/s2 $ws/steps/2-project >/dev/null && podman --url $host build -q --layers --from localhost/s2 --build-arg LEVEL=advanced -t localhost/s3 $ws/steps/3-tests >/dev/null"
    sh -c "$chain"
    # Compose has no --from: its copies of the contexts name the previous step themselves.
    rm -rf "$ws/compose"; cp -r "$ws/steps" "$ws/compose"
    sed -i 's|^FROM base|FROM localhost/c1|' "$ws/compose/2-project/Containerfile"
    sed -i 's|^FROM base|FROM localhost/c2|' "$ws/compose/3-tests/Containerfile"
    cat > "$ws/compose.yaml" <<YAML
services:
  s1: {build: {context: compose/1-tools}, image: localhost/c1}
  s2: {build: {context: compose/2-project}, image: localhost/c2, depends_on: [s1]}
  s3: {build: {context: compose/3-tests, args: {LEVEL: advanced}}, image: localhost/c3, depends_on: [s2]}
YAML
    # podman-compose builds services in parallel, ignoring depends_on: one at a time.
    local compose="podman-compose --podman-args='$store' -f $ws/compose.yaml"
    local compose_chain="$compose build s1 >/dev/null 2>&1 && $compose build s2 >/dev/null 2>&1 && $compose build s3 >/dev/null 2>&1"
    sh -c "$compose_chain"
    echo
    echo "### An unchanged image chain (embedded base + 3 builds): knowing it is up to date"
    hyperfine -N --warmup 2 --runs "${IMAGE_RUNS:-10}" --export-markdown "$out/images.md" \
        -n "pocket-dock apply (workshop, all up to date)" "$pd_bin --host $host -C $ws apply" \
        -n "podman build x3, layer cache (same socket)" "sh -c '$chain'" \
        -n "podman-compose build s1, s2, s3 (layer cache)" "sh -c \"$compose_chain\""
}
# A command in a declared, running sandbox: `pocket-dock exec` (which also finds the
# sandbox by its labels and records the command in the history) against podman exec.
bench_exec() {
    local ws="$out/exec-ws"
    rm -rf "$ws"; mkdir -p "$ws/.pocket-dock"
    printf 'apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: box}\nspec: {image: %s}\n' "$image" > "$ws/.pocket-dock/box.yaml"
    "$pd_bin" --host "$host" -C "$ws" apply >/dev/null
    local name
    name=$("${PD_PODMAN[@]}" ps --filter label=pocket-dock.dev/name=box --format '{{.Names}}' | head -1)
    # The raw lower bound: the three API calls of an exec (create, start attached, inspect
    # for the exit code), with curl.
    cat > "$out/raw-exec.sh" <<SH
api="curl -sf --unix-socket $PD_SOCKET"
id=\$(\$api -X POST -H 'Content-Type: application/json' -d '{"Cmd":["true"],"AttachStdout":true,"AttachStderr":true}' http://d/v1.41/containers/$name/exec | sed 's/.*"Id":"\([0-9a-f]*\)".*/\1/')
\$api -X POST -H 'Content-Type: application/json' -d '{"Detach":false}' http://d/v1.41/exec/\$id/start >/dev/null
\$api http://d/v1.41/exec/\$id/json >/dev/null
SH
    sh "$out/raw-exec.sh"
    echo
    echo "### exec: \`true\` in a running sandbox"
    hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$out/exec-sandbox.md" \
        -n "pocket-dock exec box -- true" "$pd_bin --host $host -C $ws exec box -- true" \
        -n "raw API: exec create + start + inspect (curl)" "sh $out/raw-exec.sh" \
        -n "podman --remote exec (same socket)" "podman --url $host exec $name true" \
        -n "podman exec (no service)" "podman $store exec $name true"
    "$pd_bin" --host "$host" -C "$ws" delete --all >/dev/null
}
# Cold create+start of one idle sandbox: the raw API calls (create + start, with curl), what
# `podman --remote run -d` makes of them, and pocket-dock doing the same: `apply` of a
# workspace declaring one sandbox (which also loads the workspace, lists what runs and
# records status and events), and `run --keep` of a new container (create, start and an exec
# of `true`). Each run starts from nothing: --prepare removes what the last one made.
bench_cold_one() {
    local ws="$out/cold-one"
    rm -rf "$ws"; mkdir -p "$ws/.pocket-dock"
    printf 'apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: box}\nspec: {image: %s}\n' "$image" > "$ws/.pocket-dock/box.yaml"
    cat > "$out/raw-create-start.sh" <<SH
api="curl -sf --unix-socket $PD_SOCKET"
\$api -X POST -H 'Content-Type: application/json' -d '{"Image":"$image","Entrypoint":["/run/podman-init"],"Cmd":["-P"],"HostConfig":{"Init":true}}' 'http://d/v1.41/containers/create?name=raw-one' >/dev/null
\$api -X POST http://d/v1.41/containers/raw-one/start >/dev/null
SH
    local rm_raw="sh -c '${PD_PODMAN[*]} rm -f -t 0 raw-one >/dev/null 2>&1; true'"
    echo
    echo "### Cold create+start of one idle sandbox"
    hyperfine -N --warmup 1 --runs "$RUNS" --export-markdown "$out/cold-one.md" \
        --prepare "$rm_raw" \
        -n "raw API: create + start (curl)" "sh $out/raw-create-start.sh" \
        --prepare "$rm_raw" \
        -n "podman --remote run -d (same socket)" "podman --url $host run -d --name raw-one --init --entrypoint /run/podman-init $image -P" \
        --prepare "$pd_bin --host $host -C $ws delete --all" \
        -n "pocket-dock apply (one new sandbox)" "$pd_bin --host $host -C $ws apply" \
        --prepare "sh -c '$pd_bin --host $host -C $ws delete --all >/dev/null; ${PD_PODMAN[*]} rm -f -t 0 pd-keep-one >/dev/null 2>&1; true'" \
        -n "pocket-dock run --keep (new: create, start, exec true)" "$pd_bin --host $host -C $ws run --keep --name pd-keep-one $image -- true"
    "$pd_bin" --host "$host" -C "$ws" delete --all >/dev/null
    "${PD_PODMAN[@]}" rm -f -t 0 raw-one pd-keep-one >/dev/null 2>&1 || true
}
# A command's round trip through an open session (Session::run and the JSON-lines protocol,
# in-process), beside an exec through the API in-process and `podman exec` of the same
# command: p50/p95 (source: controller/benches/session_roundtrip.rs).
bench_session() {
    echo
    echo "### Session: \`echo hi\` round trip in an open session"
    CONTAINER_HOST="$host" BENCH_IMAGE="$image" POCKET_DOCK="$pd_bin" BENCH_ROUNDS="${SESSION_ROUNDS:-200}" \
        cargo bench --locked --quiet --bench session_roundtrip | tee "$out/session.md"
}
# A workspace of N idle sandboxes, and the equivalent compose file.
make_workspace() {
    local dir=$1 n=$2
    rm -rf "$dir" && mkdir -p "$dir/.pocket-dock"
    : > "$dir/compose.yaml"
    echo "services:" >> "$dir/compose.yaml"
    for i in $(seq 1 "$n"); do
        printf -- '---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: s%s\nspec:\n  image: %s\n' "$i" "$image"
        printf '  s%s:\n    image: %s\n    entrypoint: ["/run/podman-init", "-P"]\n    init: true\n' "$i" "$image" >> "$dir/compose.yaml"
    done > "$dir/.pocket-dock/sandboxes.yaml"
}
# A no-op apply of 100 converged sandboxes: pocket-dock, the same reads with curl, compose.
bench_noop() {
    local noop="$out/apply-100"
    make_workspace "$noop" 100
    "$pd_bin" --host "$host" -C "$noop" apply > /dev/null
    podman-compose --podman-args="$store" -f "$noop/compose.yaml" -p noop up -d >/dev/null 2>&1
    local labels="%7B%22label%22%3A%5B%22pocket-dock.dev%2Fmanaged-by%3Dpocket-dock%22%5D%7D"
    hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$out/apply-noop.md" \
        -n "pocket-dock apply (100 converged, no-op)" "$pd_bin --host $host -C $noop apply" \
        -n "raw API: the same 4 reads, one after another (curl)" "sh -c 'curl -sf --unix-socket $PD_SOCKET http://d/v4.0.0/libpod/containers/json?all=true\\&filters=$labels >/dev/null; curl -sf --unix-socket $PD_SOCKET http://d/v1.41/volumes >/dev/null; curl -sf --unix-socket $PD_SOCKET http://d/v1.41/images/json?filters=$labels >/dev/null; curl -sf --unix-socket $PD_SOCKET http://d/v1.41/images/$image/json >/dev/null'" \
        -n "podman-compose up -d (100 services, all up)" "podman-compose --podman-args='$store' -f $noop/compose.yaml -p noop up -d"
    "${PD_PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1
}
# 1,000 create/exec/remove cycles through the library beside a running controller.
bench_leak() {
    echo
    echo "### Leak check: 1,000 cycles beside a running controller"
    CONTAINER_HOST="$host" BENCH_IMAGE="$image" POCKET_DOCK="$pd_bin" BENCH_STORE="$out/podman/" \
        cargo bench --locked --quiet --bench leak_check | tee "$out/leak.md"
}
# Warm pools: claim p50/p95 from a pool of 10 (SDK and CLI, to a sandbox that ran an exec)
# beside the cold paths (create+start+exec through the API, podman --remote run --rm), 100
# claims back to back with a controller refilling, the memory of an idle member. Counts:
# BENCH_CLAIMS (200), BENCH_CLI_CLAIMS (50), BENCH_BURST (100).
bench_pool() {
    echo
    echo "### Warm pools"
    CONTAINER_HOST="$host" BENCH_IMAGE="$image" POCKET_DOCK="$pd_bin" \
        cargo bench --locked --quiet --bench pool_claim | tee "$out/pool.md"
}
# Fork of a sandbox that wrote 100 MB: `pocket-dock fork` (writes the fork's file, commits
# without pausing, creates and starts the fork) against the same by hand through the same
# socket: podman commit --pause=false, then podman run -d of the result. Each run starts
# from no fork (the previous one removed with its image, outside the timing).
bench_fork() {
    local ws="$out/fork-ws"
    rm -rf "$ws"; mkdir -p "$ws/.pocket-dock"
    printf 'apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: src}\nspec: {image: %s}\n' "$image" > "$ws/.pocket-dock/src.yaml"
    "$pd_bin" --host "$host" -C "$ws" apply >/dev/null
    "$pd_bin" --host "$host" -C "$ws" exec src -- sh -c 'head -c 100000000 /dev/urandom > /written.bin'
    local name
    name=$("${PD_PODMAN[@]}" ps --filter label=pocket-dock.dev/name=src --format '{{.Names}}' | head -1)
    local undo_pd="sh -c 'rm -f $ws/.pocket-dock/forks/f.yaml && $pd_bin --host $host -C $ws apply >/dev/null'"
    local undo_raw="sh -c 'podman --url $host rm -f -t 0 raw-f >/dev/null 2>&1; podman --url $host rmi -f localhost/raw-fork:1 >/dev/null 2>&1; true'"
    echo
    echo "### fork: a running sandbox that wrote 100 MB"
    hyperfine -N --warmup 1 --runs "${FORK_RUNS:-10}" --export-markdown "$out/fork.md" \
        --prepare "$undo_pd" \
        -n "pocket-dock fork src f" "$pd_bin --host $host -C $ws fork src f" \
        --prepare "$undo_raw" \
        -n "podman --remote commit --pause=false + run -d (same socket)" \
        "sh -c 'podman --url $host commit -q --pause=false $name localhost/raw-fork:1 >/dev/null && podman --url $host run -d --name raw-f localhost/raw-fork:1 >/dev/null'"
    sh -c "$undo_pd"; sh -c "$undo_raw"
    "$pd_bin" --host "$host" -C "$ws" delete --all >/dev/null
}
# An ephemeral sandbox, against Podman's own `run --rm` (and compose's, unless
# BENCH_NO_COMPOSE=1: it takes as long as the other three together).
bench_run() {
    echo
    echo "### Ephemeral sandbox: create, start, run \`true\`, remove"
    local compose=()
    [ -n "${BENCH_NO_COMPOSE:-}" ] ||
        compose=(-n "podman-compose run --rm" "podman-compose --podman-args='$store' -f $out/compose.yaml run --rm svc true")
    hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$out/run.md" \
        -n "pocket-dock run --rm" "$pd_bin --host $host run --rm $image -- true" \
        -n "podman --remote run --rm (same socket)" "podman --url $host run --rm $image true" \
        -n "podman run --rm (no service)" "podman $store run --rm $image true" \
        "${compose[@]}"
}
case "${BENCH_ONLY:-}" in
    fork) bench_fork; exit 0 ;;
    run) bench_run; exit 0 ;;
    cold-one) bench_cold_one; exit 0 ;;
    session) bench_session; exit 0 ;;
    leak) bench_leak; exit 0 ;;
    pool) bench_pool; exit 0 ;;
    images) bench_images; exit 0 ;;
    exec) bench_exec; exit 0 ;;
    noop) bench_noop; exit 0 ;;
esac

echo "==> podman $(podman --version | awk '{print $3}'), hyperfine $(hyperfine --version | awk '{print $2}'), $(podman-compose --version 2>/dev/null | head -1), $RUNS runs each"
bench_run

echo
echo "### Command in an existing sandbox"
"$pd_bin" --host "$host" run --keep --name bench-keep "$image" -- true
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$out/exec.md" \
    -n "pocket-dock run --keep (reuse)" "$pd_bin --host $host run --keep --name bench-keep $image -- true" \
    -n "podman --remote exec (same socket)" "podman --url $host exec bench-keep true" \
    -n "podman exec (no service)" "podman $store exec bench-keep true"

echo
echo "### Streaming 100 MB of stdout"
hyperfine -N --warmup 1 --runs 10 --export-markdown "$out/stream.md" \
    -n "pocket-dock run --keep (reuse)" "$pd_bin --host $host run --keep --name bench-keep $image -- sh -c 'head -c 100000000 /dev/zero'" \
    -n "podman --remote exec (same socket)" "podman --url $host exec bench-keep sh -c 'head -c 100000000 /dev/zero'"
echo
echo "### validate: 1,000 documents in 200 files"
ws="$out/validate-1000"
rm -rf "$ws" && mkdir -p "$ws/.pocket-dock"
for f in $(seq 0 199); do
    group="$ws/.pocket-dock/group-$((f % 10))"
    mkdir -p "$group"
    for d in 0 1 2 3 4; do
        n=$((f * 5 + d))
        dep=""
        [ "$n" -gt 0 ] && dep="  dependsOn: [s$((n - 1))]"
        printf -- '---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: s%s\nspec:\n  image: localhost/tools:1\n  env: {INDEX: "%s"}\n  ports: [{container: 80, host: %s}]\n%s\n' \
            "$n" "$n" "$((10000 + n))" "$dep"
    done > "$group/file-$f.yaml"
done
"$pd_bin" -C "$ws" validate
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$out/validate.md" \
    -n "pocket-dock validate (1,000 docs, 200 files)" "$pd_bin -C $ws validate"

echo
echo "### apply: cold (30 sandboxes) and no-op (100 converged sandboxes)"
# The raw lower bound: the same create and start calls, 8 at a time, with curl.
raw_cold() {
    local n=$1
    seq 1 "$n" | xargs -P 8 -I{} sh -c "
        curl -sf --unix-socket $PD_SOCKET -X POST -H 'Content-Type: application/json' \
            -d '{\"Image\":\"$image\",\"Entrypoint\":[\"/run/podman-init\"],\"Cmd\":[\"-P\"],\"HostConfig\":{\"Init\":true}}' \
            'http://d/v1.41/containers/create?name=raw-{}' >/dev/null &&
        curl -sf --unix-socket $PD_SOCKET -X POST http://d/v1.41/containers/raw-{}/start >/dev/null"
}
export -f raw_cold; export PD_SOCKET image
cold="$out/apply-30"; make_workspace "$cold" 30
pd() { "$pd_bin" --host "$host" "$@"; }
hyperfine -N --warmup 1 --runs "${COLD_RUNS:-10}" --export-markdown "$out/apply-cold.md" \
    --prepare "$pd_bin --host $host -C $cold delete --all" \
    -n "pocket-dock apply (30 new sandboxes)" "$pd_bin --host $host -C $cold apply" \
    --prepare "sh -c '${PD_PODMAN[*]} rm -af -t 0 >/dev/null 2>&1'" \
    -n "raw API: create+start x30, 8 parallel (curl)" "bash -c 'raw_cold 30'" \
    --prepare "sh -c '${PD_PODMAN[*]} rm -af -t 0 >/dev/null 2>&1'" \
    -n "podman-compose up -d (30 services)" "podman-compose --podman-args='$store' -f $cold/compose.yaml -p cold up -d"
"${PD_PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1
bench_noop

bench_images
bench_exec
bench_fork
bench_cold_one
bench_session

echo
echo "### controller: edit-to-running and kill-to-repaired latency"
CONTAINER_HOST="$host" BENCH_IMAGE="$image" POCKET_DOCK="$pd_bin" \
    cargo bench --locked --quiet --bench controller_latency | tee "$out/controller.md"

bench_leak
bench_pool

echo
echo "markdown tables: $out/{run,exec,stream,validate,apply-cold,apply-noop,images,exec-sandbox,fork,cold-one,session,controller,leak,pool}.md"
