#!/usr/bin/env bash
# Writes a minimal root filesystem tarball: Debian's static busybox and its applet links.
# No registry needed; `podman import OUT.tar NAME` makes an image of it (about 2 MB).
# Used by the demo and by the integration-test harness.
# Usage: busybox-rootfs.sh OUT.tar
set -euo pipefail
out=$1
busybox=$(command -v busybox) || { echo "error: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/tmp" "$work/etc"
cp "$busybox" "$work/bin/busybox"
for tool in sh echo cat sleep yes head tail ls ps kill true false env printf id wc seq \
            pwd touch rm mkdir grep tr sed hostname uname date httpd wget nc awk sort uniq \
            cut find xargs cp mv ln chmod test basename dirname whoami stat md5sum sha256sum; do
    ln -s busybox "$work/bin/$tool"
done
chmod 1777 "$work/tmp"
echo "root:x:0:0:root:/root:/bin/sh" > "$work/etc/passwd"
echo "root:x:0:" > "$work/etc/group"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work" -cf "$out" .
