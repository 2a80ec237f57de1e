#!/usr/bin/env bash
# Downloads Debian's linux-source-7.3 from trixie-backports and unpacks it into the cache,
# through a private apt configuration under the cache (common.sh's private_apt), so nothing from
# trixie can ever be installed onto this host.
set -euo pipefail
source "$(dirname "$0")/common.sh"

pkg=linux-source-7.3
src_root=$VMDEV_CACHE/src
if compgen -G "$src_root/linux-source-*/Makefile" >/dev/null; then
  say "kernel source: cached in $(echo "$src_root"/linux-source-*)"
  exit 0
fi

apt_dir=$VMDEV_CACHE/apt-trixie arch=$(dpkg --print-architecture)
mkdir -p "$src_root"
timed "apt-get update (trixie-backports, private lists)" \
  private_apt "$apt_dir" "$arch" trixie-backports update -qq
deb_dir=$(mktemp -d)
trap 'rm -rf "$deb_dir"' EXIT
(cd "$deb_dir" && timed "apt-get download $pkg" private_apt "$apt_dir" "$arch" trixie-backports download -qq "$pkg")
unpack() {
  dpkg-deb -x "$deb_dir"/*.deb "$deb_dir/root" &&
    tar -C "$src_root" -xaf "$deb_dir/root/usr/src/$pkg.tar.xz"
}
timed "unpack $pkg" unpack
say "kernel source: $(echo "$src_root"/linux-source-*)"
