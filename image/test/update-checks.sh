# shellcheck shell=bash
# Sourced by boot-test.sh: camapp-update in the running VM. The image's own wheel set goes in as an update (new
# venv, switch, health check); then the same set with a camapp wheel that cannot start, which must roll back;
# then `camapp-update rollback` to the venv the image shipped with.

VENV_LINK=/opt/camapp/venv

venv_now() { vm readlink "$VENV_LINK"; }

# The running app's shared objects come from this venv (its scripts' shebangs name the venv's real path).
service_runs_from() {
    vm grep -q "/opt/camapp/$1/" "/proc/\$(systemctl show -p MainPID --value camapp)/maps"
}

send_wheels() {
    [[ -f $(compgen -G "$WHEELS/camapp-*.whl" | head -n1) ]] || die "no wheel set in $WHEELS (WHEELS=)"
    tar -C "$WHEELS" -cf - . | vm 'rm -rf /var/tmp/wheels && mkdir -p /var/tmp/wheels && tar -C /var/tmp/wheels -xf -'
    note "sent the wheel set ($(du -sh "$WHEELS" | cut -f1)) to /var/tmp/wheels"
}

# camapp's wheel with an import that fails when the app starts: it installs, but the service cannot come up.
broken_wheel() {
    local src dest="$WORK/broken"
    src=$(compgen -G "$WHEELS/camapp-*.whl" | head -n1)
    rm -rf "$dest" && mkdir -p "$dest"
    python3 - "$src" "$dest/$(basename "$src")" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zin, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        data = zin.read(item.filename)
        if item.filename == "camapp/cli.py":
            data += b"\nimport camapp_broken_on_purpose_by_the_boot_test  # noqa: E402\n"
        zout.writestr(item, data)
PY
    echo "$dest/$(basename "$src")"
}

update_installs() {
    local before after
    before=$(venv_now)
    send_wheels
    vm camapp-update install /var/tmp/wheels --timeout "$(scaled 300)" >"$WORK/update-good.log" 2>&1 ||
        { sed 's/^/  update| /' "$WORK/update-good.log" >&2; return 1; }
    after=$(venv_now)
    note "camapp-update install: $before -> $after ($(tail -n1 "$WORK/update-good.log"))"
    [[ $after != "$before" ]] && healthz && service_runs_from "$after" &&
        vm test -d "/opt/camapp/$before"  # the previous venv is kept for a rollback
}

broken_update_rolls_back() {
    local before after whl name
    before=$(venv_now)
    whl=$(broken_wheel)
    name=$(basename "$whl")
    vm 'rm -rf /var/tmp/wheels-broken && cp -al /var/tmp/wheels /var/tmp/wheels-broken && rm /var/tmp/wheels-broken/camapp-*.whl'
    vm "cat >/var/tmp/wheels-broken/$name" <"$whl"
    if vm camapp-update install /var/tmp/wheels-broken --timeout "$(scaled 150)" >"$WORK/update-broken.log" 2>&1; then
        note "camapp-update accepted a camapp that cannot start"
        return 1
    fi
    after=$(venv_now)
    note "broken update: $(tail -n1 "$WORK/update-broken.log")"
    wait_for "/healthz after the rollback" "$(scaled 300)" healthz
    [[ $after == "$before" ]] || { note "the venv link is $after, not $before"; return 1; }
    grep -q "rolled back to ${before##*/}" "$WORK/update-broken.log" || { note "no 'rolled back' message"; return 1; }
    service_runs_from "$after" || { note "camapp does not run from $after"; return 1; }
    [[ $(vm ls /opt/camapp/venvs | wc -l) -eq 2 ]] || { note "venvs: $(vm ls /opt/camapp/venvs | paste -sd' ')"; return 1; }
    # grep in the VM: a local `grep -q` would end the pipe early, and pipefail would count journalctl's SIGPIPE.
    vm "journalctl -u camapp --no-pager | grep -q \"No module named 'camapp_broken_on_purpose_by_the_boot_test'\"" ||
        { note "the journal does not show why the broken version failed"; return 1; }
}

rollback_command() {
    local before after
    before=$(venv_now)
    vm camapp-update rollback >&2 || return 1
    after=$(venv_now)
    note "camapp-update rollback: $before -> $after"
    wait_for "/healthz after camapp-update rollback" "$(scaled 300)" healthz
    [[ $after != "$before" ]] && service_runs_from "$after"
}

update_checks() {
    check "camapp-update installs a new venv and switches to it" update_installs
    check "an update that cannot start is rolled back and removed" broken_update_rolls_back
    check "camapp-update rollback goes back to the previous venv" rollback_command
    vm rm -rf /var/tmp/wheels /var/tmp/wheels-broken || true
}
