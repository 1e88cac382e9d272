#!/usr/bin/env bash
# Make a partitioned SD-card image from a boot directory and a rootfs directory, without mounting anything:
# FAT32 (mkfs.vfat -C + mcopy) and ext4 (mke2fs -d) images, placed by an MBR from sfdisk; then zstd, sha256, bmap.
#
# Usage: mkdisk.sh BOOTDIR ROOTDIR OUT.img      (writes OUT.img, OUT.img.zst, OUT.img.zst.sha256, OUT.img.bmap)
# Env:   BOOT_MB (256), ROOT_SLACK_MB (400: free space before first boot grows the partition), ZSTD_LEVEL (9)
set -euo pipefail

BOOTDIR="$1"
ROOTDIR="$2"
IMG="$3"
BOOT_MB="${BOOT_MB:-256}"
ROOT_SLACK_MB="${ROOT_SLACK_MB:-400}"
ZSTD_LEVEL="${ZSTD_LEVEL:-9}"
START_MB=4  # the first partition starts at 4 MiB, aligned to SD erase blocks

note() { echo "mkdisk.sh: $*" >&2; }

make_boot() {
    local img="$1"
    rm -f "$img"
    mkfs.vfat -F 32 -n RASPIFIRM -C "$img" $((BOOT_MB * 1024)) >/dev/null
    # mtools checks the drive's geometry against the image; the skip is for images it did not format itself.
    MTOOLS_SKIP_CHECK=1 mcopy -s -p -Q -m -i "$img" "$BOOTDIR"/* ::/
}

make_root() {
    local img="$1" used_mb size_mb
    used_mb=$(du -s -B1M --apparent-size "$ROOTDIR" | cut -f1)
    # ext4 metadata (inode tables, journal) needs about 10% on top of the files.
    size_mb=$((used_mb * 115 / 100 + ROOT_SLACK_MB))
    rm -f "$img"
    mke2fs -q -t ext4 -L RASPIROOT -d "$ROOTDIR" -O ^metadata_csum_seed -E lazy_itable_init=0,lazy_journal_init=0 \
        -m 2 "$img" "${size_mb}M"
    note "root file system: ${used_mb} MiB of files in a ${size_mb} MiB ext4"
}

assemble() {
    local boot="$1" root="$2" boot_sectors root_sectors start2
    boot_sectors=$(($(stat -c %s "$boot") / 512))
    root_sectors=$(($(stat -c %s "$root") / 512))
    start2=$((START_MB * 2048 + boot_sectors))
    rm -f "$IMG"
    truncate -s $(((start2 + root_sectors) * 512)) "$IMG"
    sfdisk --quiet "$IMG" <<EOF
label: dos
unit: sectors
start=$((START_MB * 2048)), size=$boot_sectors, type=c, bootable
start=$start2, size=$root_sectors, type=83
EOF
    dd if="$boot" of="$IMG" bs=4M seek=$((START_MB * 1048576)) oflag=seek_bytes conv=notrunc,sparse status=none
    dd if="$root" of="$IMG" bs=4M seek=$((start2 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
}

main() {
    tmp="$(dirname "$IMG")/.mkdisk.$$"
    mkdir -p "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    make_boot "$tmp/boot.vfat"
    make_root "$tmp/root.ext4"
    assemble "$tmp/boot.vfat" "$tmp/root.ext4"
    bmaptool -q create -o "$IMG.bmap" "$IMG"
    rm -f "$IMG.zst"
    zstd -q -T0 -"$ZSTD_LEVEL" "$IMG" -o "$IMG.zst"
    (cd "$(dirname "$IMG")" && sha256sum "$(basename "$IMG").zst" >"$(basename "$IMG").zst.sha256")
    note "$IMG.zst: $(du -h "$IMG.zst" | cut -f1) compressed, $(du -h --apparent-size "$IMG" | cut -f1) raw"
}

main
