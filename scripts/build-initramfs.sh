#!/usr/bin/env bash
# Writes build/initramfs.cpio: static busybox, /init, the module and the static test programs.
# The archive is described to the kernel's own gen_init_cpio, so no root is needed for /dev nodes.
set -euo pipefail
source "$(dirname "$0")/common.sh"

kdir=$1
bins=$VMDEV_ROOT/userspace/target/x86_64-unknown-linux-gnu/release
out=$VMDEV_ROOT/build
mkdir -p "$out"
{
  echo "dir /dev 0755 0 0"
  echo "nod /dev/console 0600 0 0 c 5 1"
  for d in bin proc sys tmp lib lib/modules; do echo "dir /$d 0755 0 0"; done
  echo "file /init $VMDEV_ROOT/scripts/guest-init.sh 0755 0 0"
  echo "file /bin/busybox /bin/busybox 0755 0 0"
  echo "file /lib/modules/rust-vmdev.ko $VMDEV_ROOT/rust-vmdev.ko 0644 0 0"
  for b in vmdev-selftest vmdev-demo vmdev-stress; do echo "file /bin/$b $bins/$b 0755 0 0"; done
} >"$out/initramfs.list"
"$kdir/usr/gen_init_cpio" "$out/initramfs.list" >"$out/initramfs.cpio"
