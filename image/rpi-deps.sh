#!/usr/bin/env bash
# Print the Raspberry Pi packages of the rpi profile (profiles/rpi.packages) with their dependencies, for
# `apt-get download` on a Raspberry Pi OS (arm64) machine that reaches the Raspberry Pi archive. Packages that
# Debian has too are downloaded as well: the build prefers whichever version apt picks, both are consistent.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$HERE/profiles/rpi.packages")
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances "${pkgs[@]}" | sed -n 's/^\([a-z0-9][a-z0-9.+-]*\)$/\1/p' | sort -u
