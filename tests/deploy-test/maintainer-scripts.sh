#!/bin/sh
# Runs the .deb's maintainer scripts the way dpkg calls them, in a private mount
# namespace with tmpfs over /run and /var/lib (so /run/systemd/system exists and
# nothing on the host changes) and a fake `systemctl` first on PATH that logs its
# arguments. Prints one line per call: "<script> <args>: <systemctl args>", and the
# state of /var/lib/guard after each step.
#   unshare --mount --propagation private sh maintainer-scripts.sh DEBIAN_DIR WORK_DIR
# Used by tests/deb.rs (needs root).
set -eu
debian=$1 work=$2
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/lib
mkdir -p /run/systemd/system "$work/bin"
cat > "$work/bin/systemctl" <<STUB
#!/bin/sh
echo "\$STEP: systemctl \$*" >> "$work/log"
STUB
chmod 0755 "$work/bin/systemctl"
PATH="$work/bin:$PATH"
export PATH
: > "$work/log"
step() {
    STEP="$*"
    export STEP
    sh "$debian/$1" "$2" ${3:+"$3"}
    if [ -d /var/lib/guard ]; then echo "$STEP: /var/lib/guard $(stat -c %a /var/lib/guard)" >> "$work/log"; fi
}
step postinst configure
step prerm upgrade 0.2.0-1
step postinst configure 0.1.0-1
step prerm remove
step postrm remove
step postrm purge
cat "$work/log"
