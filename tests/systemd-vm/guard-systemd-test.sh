#!/bin/sh
# Runs inside the qemu guest of `cargo xtask vm-systemd` (a debootstrapped Debian
# bookworm with systemd as init, a Debian 6.12 kernel with BPF LSM), as the systemd
# service guard-vm-test.service once multi-user.target is reached. It installs the
# .deb the way docs/deploy.md tells an operator to, and checks what it promises:
# the service starts under its hardened unit and enforces; `systemctl kill -s KILL`
# is followed by a restart with no enforcement gap (the programs stay pinned);
# `systemctl reload` applies a new policy and refuses a broken one; `guard-agent
# unload` ends enforcement. Each check prints one line on the serial console:
#   GUARD-SYSTEMD-RESULT name=NAME ok=1|0
# and the run ends with GUARD-SYSTEMD-DONE, then powers the guest off.
# Everything destructive targets /srv/guarded and /srv/second, made here, in the VM.

exec >/dev/ttyS0 2>&1
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

check() {
    name=$1
    shift
    if "$@"; then
        echo "GUARD-SYSTEMD-RESULT name=$name ok=1"
    else
        echo "GUARD-SYSTEMD-RESULT name=$name ok=0"
        # What the service said, for whoever reads the console log.
        systemctl status guard-agent --no-pager -l 2>&1 | tail -n 8
        journalctl -u guard-agent --no-pager -o short-monotonic 2>&1 | grep -v -E '^\S+ \S+ guard-agent\[[0-9]+\]: ([0-9]+: |;|R[0-9]|frame|caller|callee|from |At program|verification|stack depth|processed)' | tail -n 25
    fi
}

policy() {
    # $1: the protected paths, as a YAML flow list. Stopping or killing guard-agent is
    # audit tampering (the signature stop-audit-services): the operator's maintenance
    # commands are excepted, which makes the kernel ask the agent about them.
    cat > /etc/guard/policy.yaml <<POLICY
version: 1
name: vm-systemd
default_mode: enforce
protected_paths: $1
intents:
  audit_tamper: { action: deny, except: ["systemctl kill -s kill guard-agent", "systemctl stop guard-agent"] }
POLICY
}

# The policy version the running agent reports (from the pinned maps).
version() {
    guard-agent status --json 2>/dev/null | sed -n 's/.*"policy_version":"\([0-9a-f]*\)".*/\1/p'
}

# Waits up to $1 seconds for "$2" (shell code, run with eval) to succeed.
wait_for() {
    n=0
    while [ "$n" -lt "$(($1 * 10))" ]; do
        if eval "$2"; then return 0; fi
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

fixture() {
    mkdir -p /srv/guarded/keep /srv/second/keep
    echo precious > /srv/guarded/keep/file
    echo precious > /srv/second/keep/file
}

# A destructive command the policy forbids: true when it was stopped (the files stay).
stopped() {
    rm -rf "$1" 2>/dev/null
    [ -f "$1/keep/file" ]
}

echo "GUARD-SYSTEMD-BEGIN kernel $(uname -r) lsm $(cat /sys/kernel/security/lsm)"
grep -E ' /sys(/fs/bpf)? ' /proc/self/mountinfo
fixture

# Install: dpkg -i, nothing started yet (the package says: review the policy first).
check install dpkg -i /guard/guard-agent.deb
if grep -q guard.diag /proc/cmdline; then
    # Working on the unit: variants of its sandbox, each trying what the agent does.
    diag() {
        name=$1
        shift
        sed -e "s|^ExecStart=.*|ExecStart=/guard/diag.sh $name|" -e 's/^Type=notify/Type=oneshot/' \
            -e '/^WatchdogSec/d' -e '/^Restart/d' -e '/^NotifyAccess/d' -e '/^ExecReload/d' "$@" \
            /lib/systemd/system/guard-agent.service > /etc/systemd/system/diag-$name.service
        systemctl daemon-reload
        systemctl start diag-$name.service
        journalctl -u diag-$name.service -o cat --no-pager | grep -E 'GUARD-DIAG|/sys'
    }
    cat > /guard/diag.sh <<'DIAG'
#!/bin/sh
mkdir /sys/fs/bpf/diag-$1 && echo "GUARD-DIAG $1 bpffs-mkdir-ok" || echo "GUARD-DIAG $1 bpffs-mkdir-FAILED"
echo 0 > /proc/sys/kernel/bpf_stats_enabled 2>/dev/null && echo "GUARD-DIAG $1 sysctl-write-ALLOWED" || echo "GUARD-DIAG $1 sysctl-write-refused"
grep -E ' /sys(/fs/bpf)? ' /proc/self/mountinfo
DIAG
    chmod +x /guard/diag.sh
    diag unit
fi
check installed_not_started sh -c '! systemctl is-active --quiet guard-agent && systemctl cat guard-agent >/dev/null'

# Enable and start under the unit (Type=notify: returns once the agent says READY).
policy '[/srv/guarded]'
check enable_now systemctl enable --now guard-agent
check active systemctl is-active --quiet guard-agent
echo "GUARD-SYSTEMD-INFO pinned links: $(ls /sys/fs/bpf/guard/*/links 2>&1 | tr '\n' ' ')"
check lsm_path sh -c 'guard-agent status | grep -q "via lsm"'
check enforces stopped /srv/guarded
check event_in_journal wait_for 10 'journalctl -u guard-agent -o cat | grep "\"decision\":\"deny\"" | grep -q /srv/guarded'

# SIGKILL: systemd restarts the agent (Restart=always); the pinned programs enforce
# meanwhile. Try the forbidden command over and over until the new agent is up.
old=$(systemctl show -p MainPID --value guard-agent)
systemctl kill -s KILL guard-agent
attempts=0
gap=0
start=$(date +%s)
while :; do
    attempts=$((attempts + 1))
    stopped /srv/guarded || gap=1
    new=$(systemctl show -p MainPID --value guard-agent)
    if [ "$new" != "$old" ] && [ "$new" != 0 ] && systemctl is-active --quiet guard-agent; then break; fi
    [ $(($(date +%s) - start)) -lt 60 ] || break
done
echo "GUARD-SYSTEMD-INFO sigkill: $attempts attempts while restarting, old pid $old new pid $new"
restarted() { [ "$new" != "$old" ] && [ "$new" != 0 ] && [ "$(systemctl show -p NRestarts --value guard-agent)" -ge 1 ]; }
no_gap() { [ "$gap" = 0 ] && [ "$attempts" -ge 1 ]; }
check restarted_after_sigkill restarted
check no_gap_during_restart no_gap
check enforces_after_restart stopped /srv/guarded

# Reload: a new policy that also protects /srv/second is in force once the agent
# reports its version; a broken one is refused and the last good one stays.
before=$(version)
policy '[/srv/guarded, /srv/second]'
check reload systemctl reload guard-agent
check reload_applied wait_for 20 '[ -n "$(version)" ] && [ "$(version)" != "$before" ]' 
check reloaded_policy_enforces stopped /srv/second
good=$(version)
printf 'version: 1\nname: [broken\n' > /etc/guard/policy.yaml
check bad_reload_sent systemctl reload guard-agent
check bad_policy_refused_with_position wait_for 20 'journalctl -u guard-agent -o cat | grep -q "policy.yaml:2:"'
check old_policy_stays wait_for 1 '[ "$(version)" = "$good" ]' 
check still_enforces stopped /srv/second

# Stop: with --persist the programs stay pinned and keep enforcing; unload ends it.
policy '[/srv/guarded, /srv/second]'
check stop systemctl stop guard-agent
check stopped_service_still_enforces stopped /srv/guarded
check unload guard-agent unload
check unloaded_allows sh -c 'rm -rf /srv/guarded && [ ! -e /srv/guarded ]'

echo "GUARD-SYSTEMD-DONE"
sync
systemctl poweroff --force --force
