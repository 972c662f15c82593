# Shared helpers for the project's scripts. Source it; it defines functions only.

# The Debian packages pocket-dock's demo and tests need, by the command that proves each.
# catatonit is Podman's init, which pocket-dock runs as PID 1 so that stops are instant;
# docker-registry serves images on loopback so that the tests can pull with no network.
# netavark and aardvark-dns give networks name resolution between sandboxes (Podman 4.3
# defaults to CNI, which has none).
PD_PACKAGES="podman:podman runc:runc catatonit:catatonit netavark:netavark aardvark-dns:aardvark-dns busybox:busybox-static newuidmap:uidmap curl:curl docker-registry:docker-registry tmux:tmux ip:iproute2 iptables:iptables"

have() { command -v "$1" >/dev/null 2>&1; }

# Installs whichever of the packages above is missing (Debian/Ubuntu, root or sudo).
# Rootful Podman gives `locked` sandboxes a user namespace of their own (`--userns=auto`)
# from the subordinate ids of the `containers` user; without the user and its entries they
# are made without one (docs/security.md). The tests assert the namespace, so the harness
# makes both (before any compat namespace binds /etc/passwd).
ensure_subordinate_ids() {
    [ "$(id -u)" -eq 0 ] || return 0
    local f
    # Podman 5 looks the ranges up through libsubid, which needs the user to exist.
    getent passwd containers >/dev/null ||
        useradd --system --no-create-home --shell /usr/sbin/nologin containers
    for f in /etc/subuid /etc/subgid; do
        grep -q '^containers:' "$f" 2>/dev/null || echo 'containers:2147483647:2147483648' >>"$f"
    done
}

ensure_system_packages() {
    ensure_subordinate_ids
    local missing=() pair
    for pair in $PD_PACKAGES; do
        local cmd=${pair%%:*} pkg=${pair#*:}
        if [ "$cmd" = catatonit ]; then
            [ -x /usr/bin/catatonit ] || [ -x /usr/libexec/podman/catatonit ] || missing+=("$pkg")
        elif [ "$cmd" = netavark ] || [ "$cmd" = aardvark-dns ]; then
            # Podman's helpers, outside PATH.
            [ -x "/usr/lib/podman/$cmd" ] || [ -x "/usr/libexec/podman/$cmd" ] || missing+=("$pkg")
        else
            have "$cmd" || missing+=("$pkg")
        fi
    done
    install_packages "${missing[@]}"
}

# Installs the Debian packages named (root or sudo), if any.
install_packages() {
    local missing=("$@")
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        have sudo || { echo "error: need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
        sudo=sudo
    fi
    have apt-get || { echo "error: no apt-get; install these yourself: ${missing[*]}" >&2; return 1; }
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The YAML language server that tests/integration/editor_lsp.rs drives (VS Code's YAML
# engine), pinned by tests/editor/package-lock.json, installed with npm into
# target/editor-tools/ (never globally); the test finds it there, or at
# $POCKET_DOCK_YAML_LS. Reinstalled only when the lock file changes. Node and npm come
# from Debian (`nodejs` 18 in Debian 12 runs it) when missing.
ensure_editor_tools() {
    local dir="$PD_REPO/target/editor-tools"
    if [ -x "$dir/node_modules/.bin/yaml-language-server" ] &&
        cmp -s "$PD_REPO/tests/editor/package-lock.json" "$dir/installed.lock"; then
        return 0
    fi
    local missing=()
    have node || missing+=(nodejs)
    have npm || missing+=(npm)
    install_packages "${missing[@]}"
    echo "==> installing the YAML language server (tests/editor) into target/editor-tools"
    mkdir -p "$dir"
    cp "$PD_REPO/tests/editor/package.json" "$PD_REPO/tests/editor/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$PD_REPO/tests/editor/package-lock.json" "$dir/installed.lock"
}

# Starts a private Podman service with its storage and socket under DIR (absolute).
# Sets PD_SOCKET and PD_SERVICE_PID; stop it with stop_private_podman.
start_private_podman() {
    local dir=$1
    mkdir -p "$dir"
    PD_SERVICE_DIR=$dir
    PD_PODMAN=(podman --root "$dir/root" --runroot "$dir/run")
    export CONTAINERS_CONF="$PD_REPO/scripts/containers.conf"
    PD_PODMAN=(podman --root "$dir/root" --runroot "$dir/run")
    PD_SOCKET="$dir/podman.sock"
    rm -f "$PD_SOCKET"
    "${PD_PODMAN[@]}" system service --time=0 "unix://$PD_SOCKET" >"$dir/service.log" 2>&1 &
    PD_SERVICE_PID=$!
    local i
    for i in $(seq 1 150); do
        if curl -sf --unix-socket "$PD_SOCKET" http://podman/_ping >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "error: the Podman service did not start; its log:" >&2
    cat "$dir/service.log" >&2
    return 1
}

stop_private_podman() {
    [ -n "${PD_SERVICE_DIR:-}" ] || return 0
    [ -n "${PD_SERVICE_PID:-}" ] && "${PD_PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1 || true
    kill "$PD_SERVICE_PID" 2>/dev/null || true
    wait "$PD_SERVICE_PID" 2>/dev/null || true
    PD_SERVICE_PID=""
    # Exec sessions' conmons run a delayed `podman container cleanup` that would mount the
    # store again after we unmount it; end them first (matched by name and store path).
    local name
    for name in conmon podman; do
        pgrep -a -x "$name" | grep -F "$PD_SERVICE_DIR/" | cut -d' ' -f1 | xargs -r kill -KILL 2>/dev/null || true
    done
    unmount_under "$PD_SERVICE_DIR"
}

# Podman's storage driver bind-mounts its own folder and leaves it mounted; without this the
# folder cannot be deleted (rm: Device or resource busy).
unmount_under() {
    awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || true; done
}
