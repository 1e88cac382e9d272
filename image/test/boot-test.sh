#!/usr/bin/env bash
# Boot test of the built image in QEMU (make image-test): puts a camapp.conf and a camapp.yaml (demo video as the
# camera) on a copy of the image's boot partition, boots it on qemu-system-aarch64 -M virt with the kernel, initrd
# and command line from that partition, and checks what first boot and the service must do; then updates camapp
# in the VM (a good wheel set, a broken one that must roll back, `camapp-update rollback`) and boots twice more to
# turn the read-only root on and off again (update-checks.sh, overlay-checks.sh). Needs no root.
#
# Usage: image/test/boot-test.sh [IMAGE.img]   (default: the newest image/out/camapp-*-arm64.img of the debian profile)
# Env:   PORT (18080) and SSH_PORT (18022) on 127.0.0.1, BOOT_TIMEOUT (1200 s), KEEP=1 keeps the VM's disk,
#        WHEELS (the image's wheel set, for the update checks; default image/build/debian/wheels).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE_DIR="$(cd "$HERE/.." && pwd)"
WORK="$IMAGE_DIR/build/boot-test"
PORT="${PORT:-18080}"
SSH_PORT="${SSH_PORT:-18022}"
BOOT_TIMEOUT="${BOOT_TIMEOUT:-1200}"
GROW_MB=1024
WHEELS="${WHEELS:-$IMAGE_DIR/build/debian/wheels}"
HOSTNAME_=camapp-vmtest
ADMIN_PASSWORD="vm-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
WIFI_PASSWORD="wifi-secret-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
QEMU_PID=""
BOOTS=0
CONSOLE=""
T0=$SECONDS
PASSED=0
FAILED=0
# Seconds from power-on to the first /healthz answer, measured on the first boot. The other waits are scaled to it:
# a busy CI machine boots the emulated VM several times slower, and a fixed timeout then fails a healthy image.
BOOT_SECONDS=0
NOMINAL_BOOT=120
STEP_TIMES=()

note() { echo "boot-test [$((SECONDS - T0)) s]: $*" >&2; }
die() { note "FAILED: $*"; exit 1; }

check() {
    local what="$1" t0=$SECONDS
    shift
    if "$@"; then
        note "ok: $what ($((SECONDS - t0)) s)"
        PASSED=$((PASSED + 1))
    else
        note "FAIL: $what ($((SECONDS - t0)) s)"
        FAILED=$((FAILED + 1))
    fi
    STEP_TIMES+=("$((SECONDS - t0))|check: $what")
}

# A timeout of BASE seconds on a machine that booted the VM in NOMINAL_BOOT seconds, scaled by how much slower this
# one booted (never below BASE).
scaled() {
    local base="$1" factor_x10=10
    if [[ $BOOT_SECONDS -gt $NOMINAL_BOOT ]]; then
        factor_x10=$(((BOOT_SECONDS * 10 + NOMINAL_BOOT - 1) / NOMINAL_BOOT))
    fi
    echo $((base * factor_x10 / 10))
}

print_step_times() {
    local row
    note "per-step times (seconds):"
    for row in "${STEP_TIMES[@]}"; do
        printf '  %6s  %s\n' "${row%%|*}" "${row#*|}" >&2
    done
}

cleanup() {
    local rc=$?
    if [[ -n $QEMU_PID ]] && kill -0 "$QEMU_PID" 2>/dev/null; then
        kill "$QEMU_PID" 2>/dev/null || true
        wait "$QEMU_PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -n $CONSOLE && -f $CONSOLE ]]; then
        note "last lines of the VM console ($CONSOLE):"
        tail -n 40 "$CONSOLE" | sed 's/^/  | /' >&2
    fi
    [[ ${KEEP:-0} == 1 ]] || rm -f "$WORK/disk.img"
}

need_tools() {
    local missing=() pair
    for pair in qemu-system-aarch64:qemu-system-arm mcopy:mtools sfdisk:fdisk curl:curl ssh:openssh-client \
        ssh-keygen:openssh-client jq:jq; do
        command -v "${pair%%:*}" >/dev/null || PATH="$PATH:/usr/sbin:/sbin" command -v "${pair%%:*}" >/dev/null \
            || missing+=("${pair#*:}")
    done
    [[ ${#missing[@]} -eq 0 ]] || die "missing tools; install them with: apt-get install ${missing[*]}"
}

# Byte offset of partition N (1-based) of a disk image.
part_offset() {
    echo $(($(sfdisk -J "$1" | jq ".partitiontable.partitions[$(($2 - 1))].start") * 512))
}

part_bytes() {
    echo $(($(sfdisk -J "$1" | jq ".partitiontable.partitions[$(($2 - 1))].size") * 512))
}

write_inputs() {
    ssh-keygen -q -t ed25519 -N '' -C boot-test -f "$WORK/id_ed25519" <<<y >/dev/null
    cat >"$WORK/camapp.conf" <<EOF
# camapp.conf written by image/test/boot-test.sh
hostname = $HOSTNAME_
wifi_ssid = Test Network
wifi_password = $WIFI_PASSWORD
wifi_country = DE
timezone = Europe/Berlin
admin_user = admin
admin_password = $ADMIN_PASSWORD
mqtt_host = 127.0.0.1
mqtt_port = 1883
ssh = yes
ssh_authorized_key = $(cat "$WORK/id_ed25519.pub")
EOF
    cat >"$WORK/camapp.yaml" <<'EOF'
# The boot test's camapp config: the demo clip as the camera.
device_id: camapp
camera:
  id: demo
  source: file
  path: /opt/camapp/demo/vtest.avi
  loop: true
  realtime: true
model:
  manifest: /opt/camapp/models/ssd_mobilenet_v2_coco_quant.yaml
  threads: 2
objects:
  track: [person]
storage:
  path: /var/lib/camapp
  clips: false
web:
  port: 8080
EOF
}

prepare_disk() {
    local img="$1" off
    mkdir -p "$WORK"
    rm -f "$WORK/disk.img" "$WORK"/console*.log
    cp --sparse=always "$img" "$WORK/disk.img"
    # A bigger "card" than the image, so first boot has a partition to grow.
    truncate -s +"${GROW_MB}M" "$WORK/disk.img"
    ROOT_BYTES_BEFORE=$(part_bytes "$WORK/disk.img" 2)
    off=$(part_offset "$WORK/disk.img" 1)
    write_inputs
    export MTOOLS_SKIP_CHECK=1
    mcopy -o -i "$WORK/disk.img@@$off" "$WORK/camapp.conf" "$WORK/camapp.yaml" ::/
    local kernel initrd
    BOOT_OFF=$off
    kernel=$(mdir -b -i "$WORK/disk.img@@$off" ::/ | sed 's#^::/##' | grep '^vmlinuz-' | sort | tail -n1)
    initrd=$(mdir -b -i "$WORK/disk.img@@$off" ::/ | sed 's#^::/##' | grep '^initrd.img-' | sort | tail -n1)
    [[ -n $kernel && -n $initrd ]] || die "no vmlinuz-*/initrd.img-* on the image's boot partition"
    mcopy -o -i "$WORK/disk.img@@$off" "::/$kernel" "$WORK/vmlinuz"
    mcopy -o -i "$WORK/disk.img@@$off" "::/$initrd" "$WORK/initrd.img"
    note "disk ready: $kernel, $initrd, root partition $((ROOT_BYTES_BEFORE / 1048576)) MiB before first boot"
}

# The kernel command line a Pi would boot with: cmdline.txt on the card's boot partition (read while the VM is off).
card_cmdline() {
    mtype -i "$WORK/disk.img@@$BOOT_OFF" ::/cmdline.txt | tr -s ' \r\n' '   ' | sed 's/ *$//'
}

boot() {
    local cmdline
    BOOTS=$((BOOTS + 1))
    CONSOLE="$WORK/console-$BOOTS.log"
    cmdline="$(card_cmdline)"
    [[ $cmdline == *root=* ]] || die "cmdline.txt on the boot partition has no root=: '$cmdline'"
    # The last console= is /dev/console: QEMU's serial port, where the Pi would use tty0.
    # romfile= : virtio-net's PXE option ROM is not needed (and ipxe-qemu may be missing).
    qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 \
        -kernel "$WORK/vmlinuz" -initrd "$WORK/initrd.img" \
        -append "$cmdline console=ttyAMA0 systemd.show_status=1" \
        -drive "file=$WORK/disk.img,format=raw,if=none,id=hd0" -device virtio-blk-pci,drive=hd0 \
        -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:8080,hostfwd=tcp:127.0.0.1:$SSH_PORT-:22" \
        -device virtio-net-pci,netdev=n0,romfile= \
        -display none -monitor none -serial "file:$CONSOLE" &
    QEMU_PID=$!
    note "qemu started (boot $BOOTS, pid $QEMU_PID) with: $cmdline; console: $CONSOLE"
}

healthz() { curl -fsS -m 5 "http://127.0.0.1:$PORT/healthz" 2>/dev/null | grep -q '"ok"'; }

wait_for() {
    local what="$1" timeout="$2" t0=$SECONDS
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        kill -0 "$QEMU_PID" 2>/dev/null || die "the VM stopped while waiting for $what"
        [[ $SECONDS -lt $deadline ]] || die "timed out after $timeout s waiting for $what"
        sleep 5
    done
    note "$what after $((SECONDS - T0)) s (waited $((SECONDS - t0)) s of $timeout)"
    STEP_TIMES+=("$((SECONDS - t0))|wait: $what")
}


vm() {
    ssh -q -p "$SSH_PORT" -i "$WORK/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 root@127.0.0.1 "$@"
}

# Log in through the form, with the CSRF token from the login page; a good login redirects away from /login.
# Over HTTPS (the default; -k: the certificate is self-signed), where the Secure session cookie is sent.
login() {
    local password="$1" jar="$WORK/cookies" token code
    rm -f "$jar"
    token=$(curl -kfsS -m 20 -c "$jar" "https://127.0.0.1:$PORT/login" |
        sed -n 's/.*name="csrf_token"[^>]*value="\([^"]*\)".*/\1/p' | head -n1)
    [[ -n $token ]] || { note "no csrf_token on /login"; return 1; }
    code=$(curl -ksS -m 60 -o /dev/null -w '%{http_code} %{redirect_url}' -b "$jar" -c "$jar" \
        --data-urlencode "csrf_token=$token" --data-urlencode "username=admin" \
        --data-urlencode "password=$password" "https://127.0.0.1:$PORT/login")
    note "login with ${2:-the password}: $code"
    [[ $code == 302* && $code != *"/login"* ]] &&
        [[ $(curl -ksS -m 30 -o /dev/null -w '%{http_code}' -b "$jar" "https://127.0.0.1:$PORT/api/status") == 200 ]]
}

bad_login_refused() { ! login "not-the-password" "a wrong password"; }

hostname_set() { [[ $(vm hostname) == "$HOSTNAME_" ]] && vm grep -qx "$HOSTNAME_" /etc/hostname; }

wifi_keyfile() {
    local f=/etc/NetworkManager/system-connections/camapp-wifi.nmconnection
    vm test "\"\$(stat -c %a $f)\"" = 600 && vm grep -qx "'ssid=Test Network'" "$f" &&
        vm grep -qx "psk=$WIFI_PASSWORD" "$f" && vm grep -q ieee80211_regdom=DE /etc/modprobe.d/camapp-wifi-country.conf
}

root_grew() {
    local now fs
    now=$(vm lsblk -bno SIZE /dev/vda2)
    fs=$(vm df -B1 --output=size / | tail -n1)
    note "root partition $((ROOT_BYTES_BEFORE / 1048576)) -> $((now / 1048576)) MiB, file system $((fs / 1048576)) MiB"
    [[ $now -ge $((ROOT_BYTES_BEFORE + (GROW_MB - 8) * 1048576)) && $fs -gt $ROOT_BYTES_BEFORE ]]
}

secrets_blanked() {
    vm test ! -e /boot/firmware/camapp.conf -a ! -e /boot/firmware/camapp.yaml &&
        vm grep -qx "'admin_password ='" /boot/firmware/camapp.conf.applied &&
        vm grep -qx "'wifi_password ='" /boot/firmware/camapp.conf.applied &&
        ! vm grep -q -e "$ADMIN_PASSWORD" -e "$WIFI_PASSWORD" /boot/firmware/camapp.conf.applied
}

app_config_written() {
    # ssh joins its arguments with spaces: patterns with spaces need their own quotes.
    vm grep -qx "'device_id: $HOSTNAME_'" /etc/camapp/config.yaml &&
        vm grep -q "'host: 127.0.0.1'" /etc/camapp/config.yaml &&
        vm grep -q "'path: /opt/camapp/demo/vtest.avi'" /etc/camapp/config.yaml
}

service_user() {
    [[ $(vm ps -o user= -p "\$(systemctl show -p MainPID --value camapp)") == camapp ]] &&
        vm id -nG camapp | grep -qw video
}

restarts_after_kill() {
    local pid restarts new
    pid=$(vm systemctl show -p MainPID --value camapp)
    restarts=$(vm systemctl show -p NRestarts --value camapp)
    vm kill -9 "$pid"
    note "killed camapp (pid $pid) with SIGKILL"
    wait_for "camapp restarted" "$(scaled 600)" restarted "$pid" "$restarts"
    wait_for "/healthz after the restart" "$(scaled 600)" healthz
    new=$(vm systemctl show -p MainPID --value camapp)
    [[ $new != "$pid" && $new != 0 ]]
}

restarted() {
    local main state
    main=$(vm systemctl show -p MainPID --value camapp 2>/dev/null) || return 1
    state=$(vm systemctl show -p NRestarts --value camapp 2>/dev/null) || return 1
    [[ $main != 0 && $main != "$1" && $state -gt $2 ]]
}

# Boot finished with no failed unit ("running", not "degraded"); the failed ones are listed when not.
system_running() {
    local state
    state=$(vm timeout "$(scaled 300)" systemctl is-system-running --wait) || true
    note "system state: $state"
    [[ $state == running ]] || { vm systemctl --failed --no-pager --plain | sed 's/^/  failed| /' >&2; return 1; }
}

power_off() {
    vm systemctl poweroff || true
    local limit deadline
    limit=$(scaled 180)
    deadline=$((SECONDS + limit))
    while kill -0 "$QEMU_PID" 2>/dev/null; do
        [[ $SECONDS -lt $deadline ]] || { note "FAIL: the VM did not power off within $limit s"; return 1; }
        sleep 2
    done
    wait "$QEMU_PID" || true
    QEMU_PID=""
    grep -q "reboot: Power down" "$CONSOLE"
}

# shellcheck source=image/test/update-checks.sh
. "$HERE/update-checks.sh"
# shellcheck source=image/test/overlay-checks.sh
. "$HERE/overlay-checks.sh"

main() {
    need_tools
    local img="${1:-}"
    if [[ -z $img ]]; then
        img=$(find "$IMAGE_DIR/out" -maxdepth 1 -name 'camapp-*-arm64.img' ! -name '*-rpi-*' -printf '%T@ %p\n' \
            2>/dev/null | sort -n | tail -n1 | cut -d' ' -f2-)
    fi
    [[ -n $img && -f $img ]] || die "no image: run 'make image' first (or pass IMAGE.img)"
    trap cleanup EXIT
    prepare_disk "$img"
    boot
    wait_for "/healthz answers" "$BOOT_TIMEOUT" healthz
    BOOT_SECONDS=$((SECONDS - T0))
    note "first boot took $BOOT_SECONDS s; later timeouts are scaled by $(scaled 100)% (nominal boot $NOMINAL_BOOT s)"
    # First boot makes sshd's host keys (RSA under emulation is slow on a loaded machine): scaled, not a fixed guess.
    wait_for "ssh answers" "$(scaled 600)" vm true
    check "login with the password from camapp.conf" login "$ADMIN_PASSWORD"
    check "a wrong password is refused" bad_login_refused
    check "hostname set" hostname_set
    check "Wi-Fi keyfile and country written" wifi_keyfile
    check "root partition and file system grew" root_grew
    check "secrets blanked, camapp.conf renamed, camapp.yaml removed" secrets_blanked
    check "camapp config: device_id, MQTT, camapp.yaml" app_config_written
    check "service runs as camapp in the video group" service_user
    check "service restarts after kill -9" restarts_after_kill
    check "no failed units" system_running
    vm journalctl -b -u camapp-firstboot --no-pager | tail -n 8 | sed 's/^/  firstboot| /' >&2 || true
    update_checks
    overlay_checks
    check "clean power-off" power_off
    print_step_times
    note "$PASSED passed, $FAILED failed in $((SECONDS - T0)) s"
    echo "$PASSED passed, $FAILED failed"
    [[ $FAILED -eq 0 ]]
}

main "$@"
