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
pd_bin="$PD_REPO/target/release/pocket-dock"

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

echo "==> podman $(podman --version | awk '{print $3}'), hyperfine $(hyperfine --version | awk '{print $2}'), $(podman-compose --version 2>/dev/null | head -1), $RUNS runs each"
echo
echo "### Ephemeral sandbox: create, start, run \`true\`, remove"
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$out/run.md" \
    -n "pocket-dock run --rm" "$pd_bin --host $host run --rm $image -- true" \
    -n "podman --remote run --rm (same socket)" "podman --url $host run --rm $image true" \
    -n "podman run --rm (no service)" "podman $store run --rm $image true" \
    -n "podman-compose run --rm" "podman-compose --podman-args='$store' -f $out/compose.yaml run --rm svc true"

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
echo "markdown tables: $out/{run,exec,stream,validate}.md"
