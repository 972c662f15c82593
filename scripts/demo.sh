#!/usr/bin/env bash
# The main job: build pocket-dock, start a private Podman service (its own storage under
# target/demo, nothing else on the machine is touched), make an offline busybox image, check
# the setup with `doctor`, run commands in ephemeral sandboxes with `run`, then converge the
# example workspace with `apply`, change it, and watch exactly that change be applied.
# Installs Podman & co. first if they are missing. No registry is needed.
set -euo pipefail
PD_REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$PD_REPO"
. scripts/lib.sh

ensure_system_packages
echo "==> building pocket-dock"
cargo build --release --locked --quiet
pd_bin="$PD_REPO/target/release/pocket-dock"

demo_dir="$PD_REPO/target/demo"
echo "==> starting a private Podman service in $demo_dir (a fresh store each run)"
unmount_under "$demo_dir"
rm -rf "$demo_dir"
trap stop_private_podman EXIT
start_private_podman "$demo_dir"
# Only pocket-dock gets CONTAINER_HOST: it would turn the podman CLI into its remote client.
pocket_dock() { CONTAINER_HOST="unix://$PD_SOCKET" "$pd_bin" "$@"; }

image=localhost/pocket-dock-demo/busybox:1
echo "==> making the offline image $image"
scripts/busybox-rootfs.sh "$demo_dir/rootfs.tar"
# PATH set as every real image sets it (`podman kube play` adds none of its own).
"${PD_PODMAN[@]}" import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$demo_dir/rootfs.tar" "$image" >/dev/null

step() { printf '\n$ %s\n' "$*"; }
step pocket-dock doctor
pocket_dock doctor

step "pocket-dock run $image -- sh -c 'echo \"hello from \$(hostname)\"; echo \"to stderr\" >&2'"
pocket_dock run "$image" -- sh -c 'echo "hello from $(hostname)"; echo "to stderr" >&2'

step "pocket-dock run $image -- sh -c 'exit 7'"
set +e
pocket_dock run "$image" -- sh -c 'exit 7'
code=$?
set -e
echo "exit code passed through: $code"
[ "$code" -eq 7 ]

step "pocket-dock run $image -- sh -c 'yes | head -c 20000000' | wc -c"
pocket_dock run "$image" -- sh -c 'yes | head -c 20000000' | wc -c

left=$("${PD_PODMAN[@]}" ps -aq | wc -l)
echo "containers left behind by run: $left"
[ "$left" -eq 0 ]

# The declarative part: the example workspace with three sandboxes and a volume.
ws="$demo_dir/workspace"
cp -r examples/workspaces/basic "$ws"
cd "$ws"
step "pocket-dock apply --wait      # in a copy of examples/workspaces/basic; waits for readiness probes"
pocket_dock apply --wait
step "pocket-dock get"
pocket_dock get
step "curl http://127.0.0.1:18080/      # served by Sandbox/web from the bind-mounted site/"
curl -sS --retry 5 --retry-connrefused --retry-delay 1 http://127.0.0.1:18080/
step "pocket-dock apply      # again: nothing to do, no Podman writes"
pocket_dock apply
sed -i 's/BATCH_SIZE: "10"/BATCH_SIZE: "20"/' .pocket-dock/sandboxes.yaml
step "pocket-dock diff       # after editing BATCH_SIZE in .pocket-dock/sandboxes.yaml"
pocket_dock diff || true
step "pocket-dock apply"
pocket_dock apply
step "cat .pocket-dock/status/sandbox/worker.yaml"
cat .pocket-dock/status/sandbox/worker.yaml
step "pocket-dock delete --all"
pocket_dock delete --all
cd "$PD_REPO"

# Images with no registry at all: the embedded base image, built in Rust, and a workshop
# chain built on it.
ws="$demo_dir/workshop"
cp -r examples/workspaces/workshop "$ws"
cd "$ws"
step "pocket-dock apply      # in a copy of examples/workspaces/workshop: base image + 3 steps"
pocket_dock apply
step "pocket-dock image inspect base"
pocket_dock image inspect base
step "pocket-dock apply      # again: every image up to date, nothing rebuilt"
pocket_dock apply
echo 'echo hello from the edited step 2' > steps/2-project/hello.sh
step "pocket-dock apply      # after editing step 2: steps 2 and 3 rebuild, step 1 does not"
pocket_dock apply
step "pocket-dock exec attendee -- sh /workshop/hello.sh"
pocket_dock exec attendee -- sh /workshop/hello.sh
step "pocket-dock history"
pocket_dock history
step "the SDK: examples/sdk/exec_with_sinks.rs (an exec with three sinks) and session.rs"
CONTAINER_HOST="unix://$PD_SOCKET" cargo run -q --locked -p pocket-dock --example exec_with_sinks -- "$ws" attendee
CONTAINER_HOST="unix://$PD_SOCKET" cargo run -q --locked -p pocket-dock --example session -- "$ws" attendee
step "pocket-dock snapshot attendee checkpoint"
pocket_dock snapshot attendee checkpoint
step "pocket-dock get"
pocket_dock get
step "pocket-dock delete --all"
pocket_dock delete --all
cd "$PD_REPO"
echo
echo "demo finished: pocket-dock talked to Podman at $PD_SOCKET"
