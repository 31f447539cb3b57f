#!/bin/sh
# Runs `guard-agent doctor` in a private mount namespace that imitates what the unit's
# ProtectSystem=strict/ProtectKernelTunables=/ProtectControlGroups= leave: /sys,
# /proc/sys, cgroupfs, tracefs and securityfs read-only, /sys/fs/bpf writable; then
# NoNewPrivileges= and the capability set CAPS (bounding, inheritable and ambient, as
# systemd sets them). With UNMOUNT=yes, tracefs and securityfs are unmounted first, so
# the agent has to mount them onto the read-only /sys itself.
#   unshare --mount --propagation private sh sandbox-doctor.sh AGENT CAPS yes|no
# Used by tests/systemd.rs (needs root). Changes nothing outside the namespace.
set -eu
agent=$1 caps=$2 unmount=$3
for m in /sys /sys/fs/cgroup /sys/kernel/tracing /sys/kernel/security; do
    mount -o remount,bind,ro "$m"
done
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
if [ "$unmount" = yes ]; then
    umount -l /sys/kernel/tracing
    umount -l /sys/kernel/security
fi
# The sandbox is what it claims: bpffs writable, the rest of /sys not.
touch /sys/fs/bpf/.guard-sandbox-probe && rm /sys/fs/bpf/.guard-sandbox-probe
if touch /sys/kernel/.guard-sandbox-probe 2>/dev/null; then
    echo "sandbox-doctor.sh: /sys is writable" >&2
    exit 9
fi
exec setpriv --no-new-privs --inh-caps="-all,$caps" --ambient-caps="-all,$caps" --bounding-set="-all,$caps" "$agent" doctor
