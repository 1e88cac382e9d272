# shellcheck shell=bash
# Sourced by boot-test.sh: the read-only root. `camapp-overlay enable` must put camapp.overlay=1 into the card's
# cmdline.txt; the next boot runs on a RAM overlay with camapp's data and settings still on the card; after
# `camapp-overlay disable` and another boot the root is the card again, without what was written to the overlay.

overlay_enable() {
    vm camapp-overlay enable >&2 && vm camapp-overlay status | grep -qx "after reboot: on"
}

card_has_flag() {
    local cmdline
    cmdline="$(card_cmdline)"
    note "cmdline.txt: $cmdline"
    [[ " $cmdline " == *" camapp.overlay=1 "* ]]
}

card_lacks_flag() { ! card_has_flag; }

overlay_mounted() {
    [[ $(vm findmnt -no FSTYPE /) == overlay ]] || return 1
    vm findmnt -no SOURCE /var/lib/camapp | grep -q '/var/lib/camapp\]$' || return 1
    vm findmnt -no SOURCE /etc/camapp | grep -q '/etc/camapp\]$' || return 1
    vm camapp-overlay status | grep -qx "read-only root: on (now)" || return 1
    # Written now: the first to RAM only, the second to the card.
    vm 'echo overlay >/root/overlay-probe && echo card >/var/lib/camapp/overlay-probe'
}

overlay_disable() {
    vm camapp-overlay disable >&2 && vm camapp-overlay status | grep -qx "after reboot: off"
}

overlay_gone() {
    [[ $(vm findmnt -no FSTYPE /) == ext4 ]] && vm test ! -e /root/overlay-probe &&
        [[ $(vm cat /var/lib/camapp/overlay-probe) == card ]]
}

# Power off, then boot again with whatever cmdline.txt now says.
reboot_vm() {
    check "clean power-off" power_off
    check "$1" "$2"
    boot
    wait_for "ssh answers" "$BOOT_TIMEOUT" vm true
}

overlay_checks() {
    check "camapp-overlay enable" overlay_enable
    reboot_vm "cmdline.txt on the card has camapp.overlay=1" card_has_flag
    wait_for "/healthz answers on the read-only root" "$BOOT_TIMEOUT" healthz
    check "root is a RAM overlay; data and settings are on the card" overlay_mounted
    check "no failed units on the read-only root" system_running
    check "camapp-overlay disable (from the overlay)" overlay_disable
    reboot_vm "cmdline.txt on the card no longer has camapp.overlay=1" card_lacks_flag
    check "root on the card again: RAM writes gone, data kept" overlay_gone
}
