#!/usr/bin/env bash
# Installs what make check-arm64 needs on top of scripts/install-deps.sh; does nothing when all is
# there. The kernel needs nothing more (clang is a cross compiler with LLVM=1 ARCH=arm64);
# the rest is:
# - qemu-system-arm (qemu-system-aarch64) and device-tree-compiler (dtc, for the reservation
#   added to the virt machine's device tree, scripts/arm64-dtb.sh);
# - the static aarch64 userspace: gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (linker, static
#   glibc), cargo-web (cargo 1.96, the one that matches rustc-web 1.96 and rust-web-src, for
#   -Zbuild-std: scripts/build-userspace.sh);
# - an aarch64 busybox-static for the initramfs: Debian's arm64 .deb, downloaded through a private
#   apt configuration under the cache (common.sh's private_apt) and unpacked, never installed, so
#   the host's dpkg gets no foreign architecture.
set -euo pipefail
source "$(dirname "$0")/common.sh"

debs=(qemu-system-arm device-tree-compiler gcc-aarch64-linux-gnu libc6-dev-arm64-cross cargo-web)
install_debs "arm64 Debian packages" "${debs[@]}"

dir=$VMDEV_CACHE/arm64
busybox=$dir/busybox
if [ -x "$busybox" ]; then
  say "arm64 busybox: cached in $busybox"
  exit 0
fi
suite=$(debian_suite)
timed "apt-get update ($suite, arm64, private lists)" private_apt "$dir/apt" arm64 "$suite" update -qq
deb_dir=$(mktemp -d)
trap 'rm -rf "$deb_dir"' EXIT
(cd "$deb_dir" && timed "apt-get download busybox-static:arm64" \
  private_apt "$dir/apt" arm64 "$suite" download -qq busybox-static:arm64)
dpkg-deb -x "$deb_dir"/busybox-static_*_arm64.deb "$deb_dir/root"
install -m 0755 "$deb_dir/root/bin/busybox" "$busybox"
file "$busybox" | grep -q 'ARM aarch64' || die "$busybox is not an aarch64 binary"
say "arm64 busybox: $busybox ($(dpkg-deb -f "$deb_dir"/busybox-static_*_arm64.deb Version))"
