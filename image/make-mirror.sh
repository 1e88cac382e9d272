#!/usr/bin/env bash
# Make the local apt directory the rpi profile installs the Raspberry Pi packages from (this build machine cannot
# reach the Raspberry Pi archive). Fill DEBDIR on a machine that can, e.g. a Pi running Raspberry Pi OS (arm64):
#   apt-get download $(image/rpi-deps.sh)          # see docs/image.md, 'The rpi profile'
# then: image/make-mirror.sh DEBDIR [MIRROR]         (MIRROR defaults to image/build/rpi-mirror)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEBS="${1:?usage: make-mirror.sh DEBDIR [MIRROR]}"
MIRROR="${2:-$HERE/build/rpi-mirror}"
# build.sh pins the rpi profile's packages to this origin (apt_preferences "Pin: release o=...").
ORIGIN=camapp-rpi-mirror

command -v dpkg-scanpackages >/dev/null || { echo "make-mirror.sh: apt-get install dpkg-dev" >&2; exit 1; }
compgen -G "$DEBS/*.deb" >/dev/null || { echo "make-mirror.sh: no .deb files in $DEBS" >&2; exit 1; }
mkdir -p "$MIRROR"
cp -u "$DEBS"/*.deb "$MIRROR/"
cd "$MIRROR"
# A flat repository ("deb [trusted=yes] copy:///dir ./"): Packages next to the .debs, and a Release whose Origin the
# build's pin matches. The index is replaced only when it changed, so an unchanged mirror does not rebuild the image.
dpkg-scanpackages --multiversion . /dev/null >Packages.new 2>/dev/null
if cmp -s Packages.new Packages && [[ -f Release ]]; then
    rm Packages.new
else
    mv Packages.new Packages
    gzip -9 -n -k -f Packages
    {
        echo "Origin: $ORIGIN"
        echo "Label: $ORIGIN"
        echo "Date: $(date -Ru)"
        echo "SHA256:"
        for f in Packages Packages.gz; do
            printf ' %s %s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$(stat -c%s "$f")" "$f"
        done
    } >Release
fi
echo "make-mirror.sh: $(grep -c '^Package:' Packages) packages in $MIRROR"
