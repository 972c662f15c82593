#!/usr/bin/env bash
# Builds the Debian package: target/package/pocket-dock_<version>-1_<arch>.deb.
#
#   scripts/package.sh              # the release build (what users install)
#   scripts/package.sh --profile dev   # the debug build, for a quick local check only
#
# It holds /usr/bin/pocket-dock, a man page per command (`pocket-dock man --out`),
# completions for bash, zsh and fish (`pocket-dock completions SHELL`), and the copyright
# and changelog under /usr/share/doc/pocket-dock/. It depends on podman. Only dpkg-deb
# (part of dpkg) and binutils (readelf, strip; there wherever Rust links) are needed: no
# cargo-deb to compile. The output folder is $PD_PACKAGE_OUT, by default `package/` in the
# cargo target folder; the last line printed is the package's path. The same sources give
# the same bytes (timestamps from the last commit). PD_PACKAGE_REVISION sets the Debian
# revision (default 1).
set -euo pipefail
PD_REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$PD_REPO"

profile=${PD_PACKAGE_PROFILE:-release}
while [ $# -gt 0 ]; do
    case $1 in
        --profile) profile=${2:?--profile needs a value}; shift 2 ;;
        --profile=*) profile=${1#--profile=}; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $profile in
    release) profile_dir=release ;;
    dev) profile_dir=debug ;;
    *) echo "error: --profile is release or dev, not $profile" >&2; exit 2 ;;
esac

target_dir=$(realpath -m "${CARGO_TARGET_DIR:-$PD_REPO/target}")
out=$(realpath -m "${PD_PACKAGE_OUT:-$target_dir/package}")

echo "==> cargo build --profile $profile (the pocket-dock binary)" >&2
started=$SECONDS
cargo build --locked --profile "$profile" -p pocket-dock-cli --bin pocket-dock >&2
echo "    built in $((SECONDS - started))s" >&2
bin="$target_dir/$profile_dir/pocket-dock"

# The version is the binary's own (Cargo.toml's workspace version): `pocket-dock 0.1.0`.
version=$("$bin" --version | awk '{ print $2 }')
case $version in
    [0-9]*) ;;
    *) echo "error: could not read the version from $bin --version" >&2; exit 1 ;;
esac
# Debian's version: upstream's (the binary's) and a package revision, so that changelog.gz
# can be the project's own CHANGELOG (a native package's would have to be Debian's format).
revision=${PD_PACKAGE_REVISION:-1}
deb_version="$version-$revision"
arch=$(dpkg --print-architecture)
deb="$out/pocket-dock_${deb_version}_${arch}.deb"

# The staging tree is this script's own folder under $out: made afresh each time.
stage="$out/stage"
mkdir -p "$out"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/share/man/man1" \
    "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
    "$stage/usr/share/fish/vendor_completions.d" "$stage/usr/share/doc/pocket-dock"

install -m 0755 "$bin" "$stage/usr/bin/pocket-dock"
strip --strip-unneeded "$stage/usr/bin/pocket-dock"

"$bin" man --out "$stage/usr/share/man/man1" >/dev/null
pages=$(find "$stage/usr/share/man/man1" -name 'pocket-dock*.1' | wc -l)
[ "$pages" -gt 1 ] || { echo "error: pocket-dock man wrote $pages pages" >&2; exit 1; }
chmod 0644 "$stage"/usr/share/man/man1/*.1
gzip -9n "$stage"/usr/share/man/man1/*.1

"$bin" completions bash >"$stage/usr/share/bash-completion/completions/pocket-dock"
"$bin" completions zsh >"$stage/usr/share/zsh/vendor-completions/_pocket-dock"
"$bin" completions fish >"$stage/usr/share/fish/vendor_completions.d/pocket-dock.fish"

cat >"$stage/usr/share/doc/pocket-dock/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: pocket-dock

Files: *
Copyright: 2026 the pocket-dock authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
gzip -9nc CHANGELOG.md >"$stage/usr/share/doc/pocket-dock/changelog.gz"
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 1793491200)
export SOURCE_DATE_EPOCH
gzip -9n >"$stage/usr/share/doc/pocket-dock/changelog.Debian.gz" <<CHANGES
pocket-dock ($deb_version) unstable; urgency=medium

  * Packaged by scripts/package.sh; the changes are in changelog.gz.

 -- pocket-dock maintainers <pocket-dock@example.invalid>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
CHANGES
find "$stage/usr" -type f ! -path '*/usr/bin/*' -exec chmod 0644 {} +
find "$stage" -type d -exec chmod 0755 {} +

# Depends: podman, and the shared libraries the binary links (libc6, libgcc-s1), each at
# the newest symbol version it uses. Any other library is a new dependency that this script
# must learn about: it fails rather than ship a package that cannot run.
libc_min=$(readelf --version-info --wide "$stage/usr/bin/pocket-dock" |
    grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -u -V | tail -n 1)
depends="libc6 (>= ${libc_min:?no GLIBC symbol versions found}), podman"
for lib in $(readelf --dynamic --wide "$stage/usr/bin/pocket-dock" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    case $lib in
        libc.so.6|libm.so.6|libpthread.so.0|libdl.so.2|librt.so.1|ld-linux*) ;;
        libgcc_s.so.1) depends="libgcc-s1, $depends" ;;
        *) echo "error: pocket-dock links $lib, which scripts/package.sh does not map to a package" >&2; exit 1 ;;
    esac
done

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: pocket-dock
Version: $deb_version
Architecture: $arch
Maintainer: pocket-dock maintainers <pocket-dock@example.invalid>
Installed-Size: $installed_size
Depends: $depends
Recommends: busybox-static, catatonit, uidmap
Suggests: runc, netavark, aardvark-dns, iptables
Section: admin
Priority: optional
Description: reconciling controller for local Podman containers
 pocket-dock reads sandboxes, images and snapshots declared in YAML files
 in a repository (under .pocket-dock/), compares them with what Podman runs,
 and converges with idempotent actions, writing each object's status back next
 to it. One reconcile function serves a one-shot pocket-dock apply, a
 long-running pocket-dock controller and a Rust SDK.
 .
 busybox-static is the input of the embedded base image (embedded: base);
 catatonit is the init that idle sandboxes run; uidmap gives rootless Podman
 and locked sandboxes their user namespaces.
EOF

# Reproducible: every file gets the last commit's time (or a fixed one outside git), and
# dpkg-deb clamps its own timestamps to SOURCE_DATE_EPOCH.
find "$stage" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

rm -f "$deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
if command -v lintian >/dev/null 2>&1; then
    echo "==> lintian (advice only)" >&2
    lintian --tag-display-limit 0 "$deb" >&2 || true
fi
echo "==> $(du -h "$deb" | cut -f1) package, $pages man pages, depends: $depends" >&2
echo "$deb"
