#!/usr/bin/env bash
# Build the flashable camapp SD-card image for 64-bit Raspberry Pis, on an x86_64 Debian machine, as root, without
# Docker or loop mounts: mmdebstrap (through qemu-user binfmt) -> rootfs dir -> FAT + ext4 images -> partitioned disk.
#
# Usage: sudo image/build.sh [--profile debian|rpi] [--steps wheels,rootfs,disk]   (the app step: only a new venv)
# Output: image/out/camapp-<version>[-rpi]-arm64.img.zst (+ .sha256, .bmap, and the raw .img for the boot test).
# Caches (image/build/): downloaded .debs and aarch64 wheels, so a rebuild downloads nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PROFILE=debian
STEPS=wheels,rootfs,disk
SUITE=bookworm
BUILD="${CAMAPP_IMAGE_BUILD:-$HERE/build}"
OUT="${CAMAPP_IMAGE_OUT:-$HERE/out}"
# A Debian mirror URL; empty uses mmdebstrap's default (with the -updates and -security suites).
DEBIAN_MIRROR="${DEBIAN_MIRROR:-}"
# The rpi profile reads Raspberry Pi packages from this local apt directory (made by image/make-mirror.sh).
RPI_MIRROR="$(realpath -m "${RPI_MIRROR:-$HERE/build/rpi-mirror}")"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
}

die() { echo "build.sh: error: $*" >&2; exit 1; }
note() { echo "build.sh: $*" >&2; }

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --profile) PROFILE="${2:?--profile needs debian or rpi}"; shift 2 ;;
            --steps) STEPS="${2:?--steps needs a list}"; shift 2 ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown option: $1" ;;
        esac
    done
    [[ $PROFILE == debian || $PROFILE == rpi ]] || die "--profile must be debian or rpi, not $PROFILE"
}

# The tools each step needs, with the Debian package that has them.
check_host() {
    [[ $EUID -eq 0 ]] || die "run as root (mmdebstrap's root mode keeps file ownership for mke2fs -d)"
    local missing=() pair
    for pair in mmdebstrap:mmdebstrap qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support \
        arch-test:arch-test mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk mke2fs:e2fsprogs zstd:zstd \
        bmaptool:bmap-tools dpkg-scanpackages:dpkg-dev; do
        command -v "${pair%%:*}" >/dev/null || PATH="$PATH:/usr/sbin:/sbin" command -v "${pair%%:*}" >/dev/null \
            || missing+=("${pair#*:}")
    done
    [[ ${#missing[@]} -eq 0 ]] || die "missing tools; install them with: apt-get install ${missing[*]}"
    [[ -x $PYTHON ]] || die "$PYTHON not found: run 'make setup' first (or set PYTHON=)"
    enable_binfmt
}

# qemu-user-static registers its binfmt handlers with binfmt-support; containers often lack the mount.
enable_binfmt() {
    if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
    fi
    [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64 || true
    arch-test arm64 >/dev/null || die "arm64 binaries do not run here (arch-test arm64 failed): check qemu-user-static"
}

version() {
    "$PYTHON" -c 'import tomllib; print(tomllib.load(open("'"$REPO"'/pyproject.toml", "rb"))["project"]["version"])'
}

# Time one step, print it and append it to the build's times file.
timed() {
    local name="$1" t0=$SECONDS
    shift
    note "== $name"
    "$@"
    note "== $name: $((SECONDS - t0)) s"
    echo "$name $((SECONDS - t0))" >>"$WORK/times"
}

# The app's wheel plus every dependency as aarch64/cp311 wheels, pinned to the versions in the dev venv.
step_wheels() {
    local dest="$WORK/wheels" cache="$BUILD/wheel-cache" src="$WORK/src" plats=() i
    rm -rf "$dest" "$src" && mkdir -p "$dest" "$cache" "$src"
    # camapp's wheel is built from a copy of only its sources: setuptools' package discovery walks the whole
    # checkout and follows symlinks, so image/build/*/rootfs (and, while another build's mmdebstrap runs, the /proc
    # mounted in its chroot: /proc/self/cwd loops) would make it take minutes, or never end.
    cp "$REPO/pyproject.toml" "$REPO/README.md" "$src/"
    cp -r "$REPO/camapp" "$src/camapp"
    find "$src" -name __pycache__ -prune -exec rm -rf {} +
    "$PYTHON" -m pip wheel --quiet --no-deps -w "$dest" "$src"
    rm -rf "$src"
    # The cache must not hold an older camapp wheel of the same version: pip would resolve with that one's
    # dependencies and the image would miss (or fail to find) what the app needs now.
    rm -f "$cache"/camapp-*.whl
    # Host pip settings (index mirrors, find-links, constraints) must not steer a download for another platform.
    "$PYTHON" -m pip freeze --exclude-editable | grep -v '^camapp' >"$WORK/constraints.txt"
    plats=(--platform manylinux2014_aarch64)
    for i in $(seq 17 36); do plats+=(--platform "manylinux_2_${i}_aarch64"); done  # bookworm has glibc 2.36
    env PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_CONSTRAINT= "$PYTHON" -m pip download --quiet \
        --only-binary=:all: "${plats[@]}" --python-version 3.11 --implementation cp --abi cp311 \
        --constraint "$WORK/constraints.txt" -d "$cache" "$dest"/camapp-*.whl 'gpiozero>=2.0' 'lgpio>=0.2'
    # Copy only what this resolution needs: the cache keeps older versions too.
    env PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_CONSTRAINT= "$PYTHON" -m pip download --quiet --no-index \
        --find-links "$cache" --only-binary=:all: "${plats[@]}" --python-version 3.11 --implementation cp \
        --abi cp311 --constraint "$WORK/constraints.txt" -d "$dest" "$dest"/camapp-*.whl 'gpiozero>=2.0' 'lgpio>=0.2'
    mkdir -p "$dest/models" "$dest/demo"
    local m
    for m in ssd_mobilenet_v2_coco_quant.yaml coco_labels.txt mobilenet_ssd_v2_coco_quant_postprocess.tflite; do
        [[ -f $REPO/models/$m ]] || die "models/$m is missing: run 'make models'"
        cp "$REPO/models/$m" "$dest/models/"
    done
    [[ -f $REPO/.cache/media/vtest.avi ]] || die ".cache/media/vtest.avi is missing: run 'make demo-data'"
    cp "$REPO/.cache/media/vtest.avi" "$dest/demo/"
    # The web UI's templates and static files live beside the package in the source tree.
    cp -r "$REPO/web" "$dest/web"
}

packages() {
    local files=("$HERE/profiles/debian.packages")
    [[ $PROFILE == rpi ]] && files+=("$HERE/profiles/rpi.packages")
    sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "${files[@]}" | sort -u | paste -sd, -
}

mirrors() {
    if [[ -n $DEBIAN_MIRROR ]]; then
        echo "deb $DEBIAN_MIRROR $SUITE main non-free-firmware"
        echo "deb $DEBIAN_MIRROR $SUITE-updates main non-free-firmware"
    fi
    return 0
}

# The rpi profile's packages (profiles/rpi.packages), one per line.
rpi_packages() {
    sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$HERE/profiles/rpi.packages"
}

# The rpi profile reads the local Raspberry Pi mirror through an apt source and a pin that a setup hook puts in the
# chroot (so the Debian mirrors stay mmdebstrap's own); customize.sh removes both from the finished image.
#  - copy:// rather than file://: apt runs outside the chroot in mmdebstrap's root mode but dpkg runs inside it, so
#    the .debs must be copied into the chroot's /var/cache/apt/archives; trusted=yes because we made the index
#    ourselves from .debs that apt-get download had verified.
#  - The pin (990, above Debian's 500) makes apt take the rpi.packages names from the mirror even where Debian has
#    the same name at a higher version (raspi-firmware: the real archive's carries an epoch and wins anyway). Their
#    dependencies are not pinned: for those apt takes the highest version of Debian and the mirror, so a mirror
#    older than Debian's security updates does not downgrade them.
rpi_apt_files() {
    [[ -f $RPI_MIRROR/Packages ]] || die "the rpi profile needs a local Raspberry Pi package mirror at
  $RPI_MIRROR (Packages missing): see docs/image.md, 'The rpi profile', or set RPI_MIRROR="
    grep -qx 'Origin: camapp-rpi-mirror' "$RPI_MIRROR/Release" 2>/dev/null \
        || die "$RPI_MIRROR/Release is missing or old: run image/make-mirror.sh again"
    echo "deb [trusted=yes] copy://$RPI_MIRROR ./" >"$WORK/camapp-rpi.list"
    {
        echo "# The rpi profile's packages come from the build's local Raspberry Pi mirror (image/build.sh)."
        echo "Package: $(rpi_packages | paste -sd' ' -)"
        echo "Pin: release o=camapp-rpi-mirror"
        echo "Pin-Priority: 990"
    } >"$WORK/camapp-rpi.pref"
    # The names apt gives the copies in /var/cache/apt/archives (":" quoted as %3a): removed before the sync-out
    # so that no Raspberry Pi package (or stand-in) lands in the .deb cache a debian build shares.
    awk '/^Package:/ {p = $2} /^Version:/ {v = $2} /^Architecture:/ {a = $2}
         /^$/ && p {gsub(":", "%3a", v); print p "_" v "_" a ".deb"; p = ""}
         END {if (p) {gsub(":", "%3a", v); print p "_" v "_" a ".deb"}}' "$RPI_MIRROR/Packages" >"$WORK/rpi-mirror.debs"
}

# The hooks' "$1" is mmdebstrap's (the chroot), so it stays unexpanded here.
# shellcheck disable=SC2016
rpi_setup_hook() {
    [[ $PROFILE == rpi ]] || { echo "true"; return; }
    printf 'cp %q "$1"/etc/apt/sources.list.d/camapp-rpi.list && cp %q "$1"/etc/apt/preferences.d/camapp-rpi.pref' \
        "$WORK/camapp-rpi.list" "$WORK/camapp-rpi.pref"
}

# shellcheck disable=SC2016
rpi_cache_hook() {
    [[ $PROFILE == rpi ]] || { echo "true"; return; }
    printf 'cd "$1"/var/cache/apt/archives && xargs -r rm -f -- <%q' "$WORK/rpi-mirror.debs"
}

step_rootfs() {
    local rootfs="$WORK/rootfs" debs="$BUILD/debs" args=()
    [[ $PROFILE == rpi ]] && rpi_apt_files
    rm -rf "$rootfs" "$WORK/bootfs" "$WORK/.rootfs-done"
    mkdir -p "$debs"
    [[ -d $WORK/wheels ]] || die "run the wheels step first"
    mapfile -t args < <(mirrors)
    # "-" ends the options; an empty mirror list means mmdebstrap's default mirrors.
    mmdebstrap --variant=minbase --architectures=arm64 --components="main non-free-firmware" \
        --include="$(packages)" --dpkgopt=force-confold \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --aptopt='Acquire::Languages "none"' --aptopt='APT::Install-Recommends "false"' \
        --skip=download/empty --skip=essential/unlink \
        --setup-hook="mkdir -p \"\$1\"/var/cache/apt/archives" \
        --setup-hook="sync-in $debs /var/cache/apt/archives/" \
        --setup-hook="$(rpi_setup_hook)" \
        --essential-hook="$HERE/hooks/essential.sh \"\$1\"" \
        --customize-hook="$(rpi_cache_hook)" \
        --customize-hook="sync-out /var/cache/apt/archives $debs" \
        --customize-hook="$HERE/hooks/customize.sh \"\$1\" $PROFILE $WORK/wheels" \
        "$SUITE" "$rootfs" "${args[@]}"
    # The boot partition's files go to the FAT image; /boot/firmware stays as the empty mount point.
    mv "$rootfs/boot/firmware" "$WORK/bootfs"
    mkdir -m 0755 "$rootfs/boot/firmware"
}

# Replace only the app in an existing rootfs (a new wheel set), without rebuilding the Debian part.
step_app() {
    [[ -d $WORK/rootfs ]] || die "run the rootfs step first"
    "$HERE/hooks/customize.sh" "$WORK/rootfs" "$PROFILE" "$WORK/wheels" app
}

step_disk() {
    [[ -d $WORK/rootfs && -d $WORK/bootfs ]] || die "run the rootfs step first"
    # mmdebstrap unmounts its /proc and /sys, unless another process still used them ("target is busy"): mke2fs -d
    # would then copy the live /sys into the image.
    local mounts
    mounts="$(findmnt -rno TARGET | grep -F "$WORK/rootfs/" || true)"
    [[ -z $mounts ]] || die "still mounted inside the rootfs (unmount with umount -l): $mounts"
    local name suffix=""
    [[ $PROFILE == rpi ]] && suffix=-rpi
    name="camapp-$(version)$suffix-arm64"
    mkdir -p "$OUT"
    "$HERE/mkdisk.sh" "$WORK/bootfs" "$WORK/rootfs" "$OUT/$name.img"
}

main() {
    parse_args "$@"
    check_host
    WORK="$BUILD/$PROFILE"
    mkdir -p "$WORK"
    : >"$WORK/times"
    local t0=$SECONDS step
    IFS=, read -ra steps <<<"$STEPS"
    for step in "${steps[@]}"; do
        case "$step" in
            wheels | rootfs | app | disk) timed "$step" "step_$step" ;;
            *) die "unknown step $step (wheels, rootfs, app, disk)" ;;
        esac
    done
    note "total: $((SECONDS - t0)) s ($(paste -sd' ' "$WORK/times"))"
}

main "$@"
