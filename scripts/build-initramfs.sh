#!/usr/bin/env bash
# build-initramfs.sh CPIO MODULE [TWIN [IN_TREE]]: writes the archive CPIO (and CPIO's list,
# .list for .cpio) with static busybox, /init, MODULE (and the C twin's module and the in-tree
# sample's, if given) and the static test programs. The archive is described to the kernel's own gen_init_cpio, so no
# root is needed for the /dev/console node.
set -euo pipefail
source "$(dirname "$0")/common.sh"

cpio=$1 module=$2 twin=${3:-} in_tree=${4:-}
bins=$USERSPACE_BINS
gen=$VMDEV_CACHE/gen_init_cpio
[ -x "$gen" ] || cc -O2 -o "$gen" "$(echo "$VMDEV_CACHE"/src/linux-source-*)/usr/gen_init_cpio.c"
mkdir -p "$(dirname "$cpio")"
{
  echo "dir /dev 0755 0 0"
  echo "nod /dev/console 0600 0 0 c 5 1"
  for d in bin proc sys tmp lib lib/modules lib/modules/in-tree; do echo "dir /$d 0755 0 0"; done
  echo "file /init $VMDEV_ROOT/scripts/guest-init.sh 0755 0 0"
  echo "file /bin/busybox $BUSYBOX 0755 0 0"
  echo "file /lib/modules/rust-vmdev.ko $module 0644 0 0"
  [ -z "$twin" ] || echo "file /lib/modules/vmdev_c.ko $twin 0644 0 0"
  [ -z "$in_tree" ] || echo "file /lib/modules/in-tree/rust-vmdev.ko $in_tree 0644 0 0"
  for b in vmdev-selftest vmdev-demo vmdev-stress vmdev-bench; do echo "file /bin/$b $bins/$b 0755 0 0"; done
  [ ! -x "$bins/pud_pfnmap" ] || echo "file /bin/pud_pfnmap $bins/pud_pfnmap 0755 0 0"
} >"${cpio%.cpio}.list"
"$gen" "${cpio%.cpio}.list" >"$cpio"
