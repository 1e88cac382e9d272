#!/usr/bin/env bash
# mmdebstrap customize hook: turn the installed Debian rootfs into the camapp appliance.
# Usage (by build.sh): customize.sh ROOTFS PROFILE STAGE [app]   (STAGE: wheels, models/, demo/, web/ from build.sh)
set -euo pipefail
root="$1"
profile="$2"
stage="$3"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root "$@"; }
note() { echo "customize.sh: $*" >&2; }

copy_overlay() {
    # Our files (units, scripts, defaults) are owned by root whoever checked out the repository.
    cp -r --no-preserve=ownership "$HERE/rootfs/." "$root/"
    chmod 0755 "$root/usr/local/sbin/"*
}

create_user() {
    in_root groupadd --force --system gpio
    in_root useradd --system --user-group --home-dir /var/lib/camapp --no-create-home \
        --shell /usr/sbin/nologin --groups video,gpio camapp
    install -d -m 0750 "$root/var/lib/camapp"
    in_root chown camapp:camapp /var/lib/camapp
    # gpiozero's lgpio factory opens /dev/gpiochip*; Debian's udev leaves them root-only.
    echo 'SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"' \
        >"$root/etc/udev/rules.d/60-camapp-gpio.rules"
}

install_app() {
    local version venv site
    version="$(basename "$stage"/camapp-*.whl | cut -d- -f2)"
    venv="/opt/camapp/venvs/$version"
    install -d -m 0755 "$root/opt/camapp/venvs" "$root/opt/camapp/models" "$root/opt/camapp/demo"
    rm -rf "$root/tmp/wheels" && cp -r "$stage" "$root/tmp/wheels"
    local sys=()
    # picamera2 and libcamera come from the Raspberry Pi archive as Debian packages, not from PyPI.
    [[ $profile == rpi ]] && sys=(--system-site-packages)
    in_root python3 -m venv "${sys[@]}" "$venv"
    # A clean environment and --no-index: pip in the chroot cannot verify TLS here, and host pip settings leak in.
    in_root "$venv/bin/pip" install --quiet --no-index --no-cache-dir --disable-pip-version-check \
        --find-links /tmp/wheels camapp 'gpiozero>=2.0' 'lgpio>=0.2'
    site="$(in_root "$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    # camapp/web/app.py looks for the web UI's templates in <site-packages>/web when installed from a wheel.
    [[ -d $root$site/web ]] || cp -r "$stage/web" "$root$site/web"
    ln -sfn "venvs/$version" "$root/opt/camapp/venv"
    cp "$stage/models/"* "$root/opt/camapp/models/"
    cp "$stage/demo/"* "$root/opt/camapp/demo/"
    chmod -R a+rX "$root/opt/camapp"
    rm -rf "$root/tmp/wheels"
    in_root /opt/camapp/venv/bin/camapp check-config /etc/camapp/config.yaml
}

configure_system() {
    echo camapp >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tcamapp\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
    # Each card gets its own machine id (and so its own DHCP client id) on first boot.
    : >"$root/etc/machine-id"
    rm -f "$root/var/lib/dbus/machine-id"
    # Host keys are made on first start of ssh (see ssh.service.d/camapp.conf), never shared between cards.
    rm -f "$root"/etc/ssh/ssh_host_*
    in_root systemctl enable camapp.service camapp-firstboot.service NetworkManager.service \
        avahi-daemon.service systemd-timesyncd.service
    # SSH stays off until camapp.conf says ssh=true.
    in_root systemctl disable ssh.service
    in_root systemctl mask apt-daily.timer apt-daily-upgrade.timer
    # Wi-Fi regulatory domain: cfg80211 reads it on load; camapp.conf's country replaces this.
    echo "options cfg80211 ieee80211_regdom=00" >"$root/etc/modprobe.d/camapp-wifi-country.conf"
    if [[ $profile == rpi ]]; then
        # The build's local mirror (source and pin, from build.sh) does not exist on the device; docs/image.md says
        # how to point apt at the archive.
        rm -f "$root/etc/apt/sources.list.d/camapp-rpi.list" "$root/etc/apt/preferences.d/camapp-rpi.pref"
    fi
}

# Debian's raspi-firmware copies the kernel, initramfs and DTBs to /boot/firmware and writes config.txt and
# cmdline.txt from /etc/default/raspi-firmware when the initramfs is (re)built.
build_initramfs() {
    sed -i -e 's/^#\?CMA=.*/CMA=0/' -e 's/^#\?ROOTPART=.*/ROOTPART=LABEL=RASPIROOT/' "$root/etc/default/raspi-firmware"
    grep -q '^CMA=0' "$root/etc/default/raspi-firmware" || echo "CMA=0" >>"$root/etc/default/raspi-firmware"
    rm "$root/usr/sbin/update-initramfs"
    in_root dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
    in_root update-initramfs -c -k all
}

clean() {
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    rm -rf "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/root/.cache "$root"/tmp/*
    find "$root/opt/camapp" -name '__pycache__' -path '*/tests/*' -prune -exec rm -rf {} + 2>/dev/null || true
}

config_perms() {
    in_root chgrp camapp /etc/camapp /etc/camapp/config.yaml
    chmod 0770 "$root/etc/camapp"
    chmod 0660 "$root/etc/camapp/config.yaml"
}

note "profile $profile"
if [[ ${4:-} == app ]]; then
    # build.sh --steps ...,app: only replace the app in an existing rootfs (fast rebuilds while developing).
    copy_overlay
    rm -rf "$root/opt/camapp/venvs"
    install_app
    config_perms
    exit 0
fi
copy_overlay
create_user
install_app
config_perms
configure_system
build_initramfs
clean
