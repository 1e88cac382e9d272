#!/usr/bin/env bash
# Make the local apt directory the rpi profile installs the Raspberry Pi packages from (this build machine cannot
# reach the Raspberry Pi archive). Fill DEBDIR on a machine that can, e.g. a Pi running Raspberry Pi OS (arm64):
#   apt-get download $(image/rpi-deps.sh)          # see docs/image.md, 'The rpi profile'
# then: image/make-mirror.sh DEBDIR [MIRROR]         (MIRROR defaults to image/build/rpi-mirror)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEBS="${1:?usage: make-mirror.sh DEBDIR [MIRROR]}"
MIRROR="${2:-$HERE/build/rpi-mirror}"

command -v dpkg-scanpackages >/dev/null || { echo "make-mirror.sh: apt-get install dpkg-dev" >&2; exit 1; }
compgen -G "$DEBS/*.deb" >/dev/null || { echo "make-mirror.sh: no .deb files in $DEBS" >&2; exit 1; }
mkdir -p "$MIRROR"
cp -u "$DEBS"/*.deb "$MIRROR/"
# A flat repository ("deb [trusted=yes] file:///dir ./"): apt needs only Packages next to the .debs.
(cd "$MIRROR" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null && gzip -9 -k -f Packages)
echo "make-mirror.sh: $(grep -c '^Package:' "$MIRROR/Packages") packages in $MIRROR"
