#!/usr/bin/env bash
# Make a local mirror of clearly-labelled STAND-INS for the Raspberry Pi archive's packages of the rpi profile, so
# the offline-mirror build path (image/make-mirror.sh -> build.sh --profile rpi) can be built and checked on a
# machine that cannot reach that archive. They are not the real packages and nothing in them drives a camera.
# Usage: image/test/rpi-standins.sh [MIRROR]   (default image/build/rpi-standin-mirror; needs dpkg-dev)
#
# For each name in profiles/rpi.packages:
#  - Debian bookworm has none of linux-image-rpi-*, libcamera0.3, python3-libcamera or python3-picamera2: each gets
#    an empty stand-in; the kernel ones depend on Debian's linux-image-arm64 so the image still has a kernel to boot,
#    and python3-picamera2 installs a `picamera2` whose Picamera2() always raises "stand-in ... no camera".
#  - raspi-firmware is in Debian (1.20220830+ds-1; the real archive's carries an epoch, 1:1.2024...). Its stand-in is
#    Debian's own .deb (from the debian build's cache, image/build/debs) repacked with a LOWER version, so the image
#    still gets the boot firmware and the build proves that the mirror's pin beats Debian's higher version.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MIRROR="$(realpath -m "${1:-$HERE/build/rpi-standin-mirror}")"
WORK="$HERE/build/rpi-standins"
DEBIAN_DEBS="${DEBIAN_DEBS:-$HERE/build/debs}"
VERSION="0~camapp.standin1"
MAINTAINER="camapp image/test stand-in <stand-in@camapp.invalid>"
# Fixed timestamps make the .debs byte-identical run to run, so an unchanged stand-in set does not rebuild the image.
export SOURCE_DATE_EPOCH=1700000000

die() { echo "rpi-standins.sh: error: $*" >&2; exit 1; }
note() { echo "rpi-standins.sh: $*" >&2; }

description() {
    printf "stand-in for the Raspberry Pi archive's %s, made by image/test for the offline-mirror build test\n" "$1"
    printf ' Not the real package: camapp builds its rpi profile against these stand-ins to test the local\n'
    printf ' mirror path (image/make-mirror.sh) on a machine that cannot reach the Raspberry Pi archive.\n'
}

# Build DIR into $WORK/debs/FILE, replacing an existing FILE only when the new one differs.
build_deb() {
    local dir="$1" file="$2"
    find "$dir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    dpkg-deb --root-owner-group -Zxz --build "$dir" "$WORK/new.deb" >/dev/null
    if cmp -s "$WORK/new.deb" "$WORK/debs/$file"; then rm "$WORK/new.deb"; else mv "$WORK/new.deb" "$WORK/debs/$file"; fi
    echo "$file"
}

picamera2_module() {
    local dest="$1/usr/lib/python3/dist-packages/picamera2"
    mkdir -p "$dest"
    cat >"$dest/__init__.py" <<'PY'
"""STAND-IN for the Raspberry Pi archive's python3-picamera2, made by camapp's image/test for the offline-mirror
build test. It is not picamera2: it has no camera support, and constructing Picamera2 always fails."""

import numpy  # noqa: F401  (like the real picamera2; the image test reports which numpy it gets)

STAND_IN = True
__version__ = "0+camapp.standin"


class Picamera2:
    """Always fails: nothing here may pretend to be a camera."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError(
            "stand-in python3-picamera2 (camapp image test): no camera; this image was built against stand-in "
            "packages, not the Raspberry Pi archive"
        )
PY
}

# An empty stand-in for NAME (plus a picamera2 module for python3-picamera2).
standin() {
    local name="$1" dir="$WORK/pkgs/$1" arch=arm64 depends=""
    case "$name" in
        linux-image-*) depends="linux-image-arm64" ;;
        python3-libcamera) depends="python3, libcamera0.3" ;;
        python3-picamera2) arch=all depends="python3 (>= 3.11), python3-libcamera, python3-numpy" ;;
    esac
    rm -rf "$dir" && mkdir -p "$dir/DEBIAN" "$dir/usr/share/doc/$name"
    [[ $name == python3-picamera2 ]] && picamera2_module "$dir"
    description "$name" | sed 's/^ //' >"$dir/usr/share/doc/$name/README.stand-in"
    {
        echo "Package: $name"
        echo "Version: $VERSION"
        echo "Architecture: $arch"
        echo "Maintainer: $MAINTAINER"
        [[ -n $depends ]] && echo "Depends: $depends"
        echo "Section: misc"
        echo "Priority: optional"
        echo "Description: $(description "$name")"
    } >"$dir/DEBIAN/control"
    build_deb "$dir" "${name}_${VERSION}_${arch}.deb"
}

# Debian's raspi-firmware with a lower version and the stand-in's Maintainer and Description.
firmware_standin() {
    local orig dir="$WORK/pkgs/raspi-firmware" version
    orig="$(find "$DEBIAN_DEBS" -maxdepth 1 -name 'raspi-firmware_*_all.deb' | sort -V | tail -n 1)"
    [[ -n $orig ]] || die "Debian's raspi-firmware .deb is not in $DEBIAN_DEBS: build the debian profile first
  (make -C image image), or set DEBIAN_DEBS= to a directory that has it"
    rm -rf "$dir" && dpkg-deb -R "$orig" "$dir"
    version="$(dpkg-deb -f "$orig" Version)~camapp.standin1"
    sed -i -e '/^Maintainer:/d' -e '/^Description:/,$d' -e "s/^Version: .*/Version: $version/" "$dir/DEBIAN/control"
    printf 'Maintainer: %s\nDescription: %s\n Repacked from %s.\n' "$MAINTAINER" "$(description raspi-firmware)" \
        "$(basename "$orig")" >>"$dir/DEBIAN/control"
    build_deb "$dir" "raspi-firmware_${version}_all.deb"
}

main() {
    command -v dpkg-scanpackages >/dev/null || die "apt-get install dpkg-dev"
    mkdir -p "$WORK/debs"
    local name built=()
    while read -r name; do
        if [[ $name == raspi-firmware ]]; then built+=("$(firmware_standin)"); else built+=("$(standin "$name")"); fi
    done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$HERE/profiles/rpi.packages")
    # Only this run's .debs: a stand-in dropped from rpi.packages must leave the mirror too.
    local f
    for f in "$WORK/debs"/*.deb "$MIRROR"/*.deb; do
        [[ -e $f ]] || continue
        printf '%s\n' "${built[@]}" | grep -qxF "$(basename "$f")" || rm -f "$f"
    done
    note "${#built[@]} stand-ins: ${built[*]}"
    "$HERE/make-mirror.sh" "$WORK/debs" "$MIRROR"
}

main "$@"
