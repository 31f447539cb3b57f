#!/bin/sh
# Builds the guard-agent .deb with dpkg-deb from a staging directory (no cargo-deb, no
# debhelper needed): binary, systemd unit, default policy (the built-in one) as a
# conffile, man page, docs, example policies and agent config, maintainer scripts.
#
#   deploy/debian/build-deb.sh [AGENT_BINARY] [OUT_DIR]
#       AGENT_BINARY  default target/release/guard-agent (`cargo xtask build`)
#       OUT_DIR       default target/debian
#   Environment: DEB_REVISION (default 1), SOURCE_DATE_EPOCH (default: last commit time).
#
# Prints the path of the .deb on its last line. Tested by tests/deploy-test/tests/deb.rs.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:-$repo/target/release/guard-agent}
out=${2:-$repo/target/debian}

[ -x "$bin" ] || { echo "build-deb.sh: $bin is missing or not executable (run cargo xtask build)" >&2; exit 1; }
for tool in dpkg-deb dpkg gzip; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool not found" >&2; exit 1; }
done

# Version: [workspace.package] version of the root Cargo.toml, and the binary must agree.
version=$(sed -n '/^\[workspace.package\]/,/^\[/{s/^version *= *"\([^"]*\)".*/\1/p}' "$repo/Cargo.toml")
[ -n "$version" ] || { echo "build-deb.sh: no [workspace.package] version in Cargo.toml" >&2; exit 1; }
bin_version=$("$bin" --version | awk '{print $2}')
[ "$bin_version" = "$version" ] || { echo "build-deb.sh: $bin says $bin_version, Cargo.toml says $version" >&2; exit 1; }
deb_version="$version-${DEB_REVISION:-1}"
arch=$(dpkg --print-architecture)
: "${SOURCE_DATE_EPOCH:=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH

stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
umask 022

install -D -m 0755 "$bin" "$stage/usr/bin/guard-agent"
install -D -m 0644 "$repo/deploy/systemd/guard-agent.service" "$stage/usr/lib/systemd/system/guard-agent.service"
install -D -m 0644 "$repo/guard-policy/builtin.yaml" "$stage/etc/guard/policy.yaml"
"$bin" policy validate "$stage/etc/guard/policy.yaml" >/dev/null

install -d -m 0755 "$stage/usr/share/man/man8"
gzip -9 -n -c "$repo/deploy/man/guard-agent.8" > "$stage/usr/share/man/man8/guard-agent.8.gz"
chmod 0644 "$stage/usr/share/man/man8/guard-agent.8.gz"

doc="$stage/usr/share/doc/guard-agent"
install -d -m 0755 "$doc/examples"
install -m 0644 "$here/copyright" "$doc/copyright"
install -m 0644 "$repo/README.md" "$doc/README.md"
for f in deploy.md policy.md events.md config.md; do
    install -m 0644 "$repo/docs/$f" "$doc/$f"
done
for f in "$repo"/examples/policies/*.yaml; do
    install -m 0644 "$f" "$doc/examples/"
done
# The agent config example (docs/config.md); /etc/guard/agent.yaml is not shipped, so
# the service runs on its flags until the operator writes one.
install -m 0644 "$repo/deploy/config/agent.yaml" "$doc/examples/agent.yaml"

install -d -m 0755 "$stage/DEBIAN"
installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$deb_version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
    "$here/control.in" > "$stage/DEBIAN/control"
install -m 0644 "$here/conffiles" "$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do
    install -m 0755 "$here/$s" "$stage/DEBIAN/$s"
done

# Reproducible timestamps for everything in the package.
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
deb="$out/guard-agent_${deb_version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
