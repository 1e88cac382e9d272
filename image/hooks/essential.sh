#!/usr/bin/env bash
# mmdebstrap essential hook ($1: the rootfs): runs before the kernel and the rest are installed.
# Under qemu-user emulation each initramfs takes minutes, and dpkg triggers would build it several times:
# update-initramfs is diverted to a no-op here and run once for real by customize.sh.
set -euo pipefail
root="$1"

chroot "$root" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
printf '#!/bin/sh\necho "update-initramfs: deferred to the end of the image build"\n' \
    >"$root/usr/sbin/update-initramfs"
chmod 0755 "$root/usr/sbin/update-initramfs"

# Only the listed modules (plus their dependencies) go into the initramfs: small, and fast to generate.
install -d "$root/etc/initramfs-tools/conf.d"
echo "MODULES=list" >"$root/etc/initramfs-tools/conf.d/camapp.conf"
