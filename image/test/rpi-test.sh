#!/usr/bin/env bash
# Build the rpi profile against a local mirror of STAND-INS for the Raspberry Pi archive's packages
# (image/test/rpi-standins.sh), then check the rootfs and the image. This tests the offline-mirror path of the build,
# not the real Raspberry Pi kernel, libcamera or picamera2 (docs/image.md, 'The rpi profile').
# Usage (as root, like the build): image/test/rpi-test.sh    (make -C image rpi-test)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MIRROR="$HERE/build/rpi-standin-mirror"
ROOTFS="$HERE/build/rpi/rootfs"
FAILED=0

ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; FAILED=1; }
check() {  # check "what" command...: ok/FAIL by the command's exit status
    local what="$1"
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
in_root() {
    chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root PYTHONDONTWRITEBYTECODE=1 "$@"
}
field() { dpkg-deb -f "$1" "$2"; }
# shellcheck disable=SC2016  # a dpkg-query format, not a shell expansion
installed() { dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }
no_mirror_mention() { ! grep -rqs -e "$MIRROR" -e camapp-rpi-mirror "$ROOTFS/etc/apt"; }
zst_matches_sha256() { (cd "$(dirname "$1")" && sha256sum --quiet -c "$(basename "$1").zst.sha256"); }

build() {
    "$HERE/test/rpi-standins.sh" "$MIRROR"
    local t0=$SECONDS
    make -C "$HERE" image PROFILE=rpi RPI_MIRROR="$MIRROR"
    # build.sh prints each step's time; make may run it twice (rootfs, then app and disk), so only the total here.
    echo "rpi-test: rpi build (make -C image image PROFILE=rpi): $((SECONDS - t0)) s wall"
}

# Every stand-in is installed at the mirror's version, raspi-firmware included: Debian's is higher, so only the
# build's pin can have chosen it.
check_packages() {
    local deb name want got
    for deb in "$MIRROR"/*.deb; do
        name="$(field "$deb" Package)" want="$(field "$deb" Version)"
        got="$(dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W -f='${Version} ${Maintainer}' "$name" 2>/dev/null || true)"
        check "$name $want installed from the stand-in mirror (got: ${got:-nothing})" \
            test "$got" = "$want $(field "$deb" Maintainer)"
        check "$name stand-in kept out of the shared .deb cache" test ! -e "$HERE/build/debs/$(basename "$deb")"
    done
    check "Debian's kernel (linux-image-arm64) installed for the stand-in kernels" \
        installed linux-image-arm64
    check "the boot partition's config.txt boots Debian's kernel" \
        grep -qx 'kernel=vmlinuz-.*-arm64' "$HERE/build/rpi/bootfs/config.txt"
}

check_apt_cleaned() {
    check "no build-time mirror source in the image" test ! -e "$ROOTFS/etc/apt/sources.list.d/camapp-rpi.list"
    check "no build-time mirror pin in the image" test ! -e "$ROOTFS/etc/apt/preferences.d/camapp-rpi.pref"
    check "no mention of the build's mirror under /etc/apt" no_mirror_mention
}

# The venv sees the system's picamera2; camapp's adapter finds it and fails with the stand-in's own error.
check_python() {
    check "the venv was made with --system-site-packages" \
        grep -qx 'include-system-site-packages = true' "$ROOTFS/opt/camapp/venv/pyvenv.cfg"
    local out
    out="$(in_root /opt/camapp/venv/bin/python - 2>&1 <<'PY'
import numpy, picamera2
from camapp.capture.picam import Picamera2Source
from camapp.errors import CaptureError
print("picamera2", picamera2.__file__, "stand-in" if getattr(picamera2, "STAND_IN", False) else "REAL")
print("numpy", numpy.__version__, numpy.__file__)
try:
    Picamera2Source(640, 480)
except CaptureError as exc:
    print("error", exc)
PY
)" || true
    local line
    while IFS= read -r line; do echo "     $line"; done <<<"$out"
    check "the venv's python imports picamera2 from /usr/lib/python3/dist-packages (the stand-in)" \
        grep -q '^picamera2 /usr/lib/python3/dist-packages/picamera2/__init__.py stand-in$' <<<"$out"
    check "camapp.capture.picam fails with the stand-in's 'no camera' error, not an ImportError" \
        grep -q '^error cannot start the Pi camera: stand-in python3-picamera2 .*no camera' <<<"$out"
    check "camapp check-config passes on the image's /etc/camapp/config.yaml" \
        in_root /opt/camapp/venv/bin/camapp check-config /etc/camapp/config.yaml
}

check_image() {
    local version img
    version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$HERE/../pyproject.toml")"
    img="$HERE/out/camapp-$version-rpi-arm64.img"
    local f
    for f in "$img" "$img.zst" "$img.zst.sha256" "$img.bmap"; do check "$(basename "$f") exists" test -s "$f"; done
    check "the .zst matches its .sha256" zst_matches_sha256 "$img"
    check "the image is newer than the rpi rootfs" test "$img" -nt "$HERE/build/rpi/.rootfs-done"
}

main() {
    [[ $EUID -eq 0 ]] || { echo "rpi-test.sh: run as root (the build needs it)" >&2; exit 1; }
    build
    [[ -d $ROOTFS ]] || { echo "FAIL no rootfs at $ROOTFS"; exit 1; }
    check_packages
    check_apt_cleaned
    check_python
    check_image
    if [[ $FAILED -ne 0 ]]; then echo "rpi-test: FAILED"; exit 1; fi
    echo "rpi-test: all checks passed (stand-in packages: the real Raspberry Pi archive is not tested)"
}

main "$@"
