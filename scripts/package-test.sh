#!/usr/bin/env bash
# The package test: installs the Debian package (scripts/package.sh) into a clean Debian 12
# root with apt, which fetches podman from the Debian mirror as the package's dependency,
# then, inside that root, checks the installed files and runs `pocket-dock --version` and
# `pocket-dock doctor` against a Podman service started there.
#
#   scripts/package-test.sh               # builds the release package, then tests it
#   PD_PACKAGE_DEB=path.deb scripts/package-test.sh   # tests a package already built
#   PD_PACKAGE_PROFILE=dev ...            # packages the debug build (quicker; same files)
#
# Needs root (debootstrap, chroot, mounts). The bare root (debootstrap --variant=minbase
# bookworm) is made once and kept as a tarball under target/package-test/, with apt's
# downloaded .debs beside it; every run unpacks a fresh copy, so nothing of an earlier run
# is in the root. All mounts live in a private mount namespace and every process in a
# private pid namespace, so both go away with the test, whatever way it ends.
set -euo pipefail
PD_REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$PD_REPO"
. scripts/lib.sh

[ "$(id -u)" -eq 0 ] || { echo "error: the package test needs root (debootstrap, chroot)" >&2; exit 1; }

release=bookworm
mirror=${PD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work="$PD_REPO/target/package-test"
base="$work/$release-minbase.tar"
stamp="$work/$release-minbase.ready"
archives="$work/apt-archives"
root="$work/root"
mkdir -p "$work" "$archives/partial"
started=$SECONDS

# The package under test.
deb=${PD_PACKAGE_DEB:-}
if [ -z "$deb" ]; then
    deb=$(./scripts/package.sh | tail -n 1)
fi
[ -f "$deb" ] || { echo "error: no package at $deb" >&2; exit 1; }
deb=$(realpath "$deb")
# The upstream version, which `pocket-dock --version` prints: Debian's without its revision.
deb_version=$(dpkg-deb --field "$deb" Version)
version=${deb_version%-*}
echo "==> package test: $(basename "$deb") in a clean Debian $release root"

# The bare root, once. A tarball is complete only when its stamp names it.
if [ ! -f "$base" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$release $mirror" ]; then
    have debootstrap || install_packages debootstrap
    echo "==> debootstrap --variant=minbase $release (once; cached in ${base#"$PD_REPO"/})"
    rm -rf "$root" "$base" "$stamp"
    t=$SECONDS
    attempt=1
    until debootstrap --variant=minbase "$release" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; do
        echo "    debootstrap attempt $attempt failed"
        if [ "$attempt" -ge 2 ]; then
            echo "error: debootstrap failed; the last lines of ${work#"$PD_REPO"/}/debootstrap.log:" >&2
            tail -n 20 "$work/debootstrap.log" >&2
            exit 1
        fi
        attempt=$((attempt + 1))
        rm -rf "$root"
    done
    tar -C "$root" -cf "$base" .
    echo "$release $mirror" >"$stamp"
    echo "    made in $((SECONDS - t))s"
fi

# A fresh copy of it for this run; the copy is removed on the way out, however it ends.
holder=""
cleanup() {
    local status=$?
    [ -z "$holder" ] || kill -KILL "$holder" 2>/dev/null || true
    [ -z "$holder" ] || wait "$holder" 2>/dev/null || true
    # The namespace is gone with its last process; nothing can still be mounted here,
    # and `rm --one-file-system` would refuse to cross into anything that were.
    rm -rf --one-file-system "$root"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf --one-file-system "$root"
mkdir -p "$root"
tar -C "$root" -xf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No service starts at install time (a chroot has no init to ask).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/pd-test"
cp "$deb" "$root/pd-test/"

# What runs inside the root, as root, with nothing of the host's environment.
cat >"$root/pd-test/check.sh" <<'CHECK'
#!/bin/sh
set -eu
version=$1
deb=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
echo "--> apt-get install ./$deb (podman comes from the Debian mirror)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "/pd-test/$deb" >/pd-test/apt.log 2>&1 ||
    { tail -n 30 /pd-test/apt.log >&2; fail "apt-get install of the package"; }
for p in pocket-dock podman; do
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || fail "$p is not installed"
done
echo "    installed: pocket-dock $(dpkg-query -W -f='${Version}' pocket-dock), podman $(dpkg-query -W -f='${Version}' podman)"

echo "--> pocket-dock --version"
got=$(pocket-dock --version)
[ "$got" = "pocket-dock $version" ] || fail "pocket-dock --version printed '$got', not 'pocket-dock $version'"
echo "    $got"

echo "--> installed files"
[ "$(command -v pocket-dock)" = /usr/bin/pocket-dock ] || fail "pocket-dock is not /usr/bin/pocket-dock"
pages=$(ls /usr/share/man/man1/pocket-dock*.1.gz | wc -l)
for page in pocket-dock pocket-dock-apply pocket-dock-doctor pocket-dock-image-export; do
    f=/usr/share/man/man1/$page.1.gz
    [ -f "$f" ] || fail "no man page $f"
    gzip -dc "$f" | grep -q '^\.SH NAME' || fail "$f is not a man page"
done
# One page per command, as the installed binary sees its commands.
want=$(pocket-dock man --out /pd-test/man >/dev/null && ls /pd-test/man | wc -l)
[ "$pages" -eq "$want" ] || fail "$pages man pages installed, pocket-dock man writes $want"
# The bash completion loads and registers itself for the command.
bash -c '. /usr/share/bash-completion/completions/pocket-dock && complete -p pocket-dock' >/dev/null ||
    fail "the bash completion does not register pocket-dock"
grep -q '^#compdef pocket-dock' /usr/share/zsh/vendor-completions/_pocket-dock || fail "no zsh completion"
grep -q '^complete -c pocket-dock' /usr/share/fish/vendor_completions.d/pocket-dock.fish || fail "no fish completion"
[ -f /usr/share/doc/pocket-dock/copyright ] || fail "no copyright file"
[ -f /usr/share/doc/pocket-dock/changelog.gz ] || fail "no changelog"
[ -f /usr/share/doc/pocket-dock/changelog.Debian.gz ] || fail "no Debian changelog"
echo "    /usr/bin/pocket-dock, $pages man pages, bash/zsh/fish completions, copyright, changelog"

echo "--> pocket-dock doctor (Podman service on /run/podman/podman.sock)"
mkdir -p /run/podman
podman system service --time=0 unix:///run/podman/podman.sock >/pd-test/service.log 2>&1 &
# Until the service answers: doctor exits 3 while the socket is absent or refuses.
i=0
while :; do
    status=0
    pocket-dock doctor >/pd-test/doctor.txt 2>&1 || status=$?
    [ "$status" -eq 3 ] || break
    i=$((i + 1))
    [ "$i" -lt 300 ] || { cat /pd-test/doctor.txt /pd-test/service.log >&2; fail "the Podman service never answered"; }
    sleep 0.1
done
sed 's/^/    | /' /pd-test/doctor.txt
[ "$status" -eq 0 ] || fail "pocket-dock doctor exited $status"
grep -q '^ok   socket .*/run/podman/podman.sock' /pd-test/doctor.txt || fail "doctor did not use the rootful socket"
grep -qi '^ok   server .*podman' /pd-test/doctor.txt || fail "doctor did not name Podman"
pocket-dock --output json doctor >/pd-test/doctor.json || fail "pocket-dock --output json doctor exited $?"
grep -q '"kind": "podman"' /pd-test/doctor.json || fail "doctor's JSON does not name podman"
echo "ok"
CHECK
chmod 0755 "$root/pd-test/check.sh"

# The root's mounts in a private mount namespace, every process in a private pid namespace
# whose init is this shell: when it ends (or the holder is killed), the Podman service and
# every mount end with it. apt's downloads are kept between runs (bind-mounted cache).
inside() {
    set -e
    local root=$1 archives=$2
    shift 2
    mount --bind "$root" "$root"
    mount --make-private "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
    mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
    mount -t tmpfs tmpfs "$root/run"
    mount --bind "$archives" "$root/var/cache/apt/archives"
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb \
        chroot "$root" /pd-test/check.sh "$@"
}
status=0
unshare --mount --pid --fork --kill-child --propagation private -- \
    bash -c "$(declare -f inside); inside \"\$@\"" inside "$root" "$archives" "$version" "$(basename "$deb")" &
holder=$!
wait "$holder" || status=$?
holder=""
if [ "$status" -ne 0 ]; then
    echo "error: the package test failed (exit $status)" >&2
    exit "$status"
fi
echo "==> package test passed in $((SECONDS - started))s"
