#!/usr/bin/env bash
# Builds rust-vmdev.ko, and its C twin, against $KDIR or the cached test-VM kernel (built if needed).
# CLIPPY=1 builds it through clippy; warnings are errors either way (Kbuild).
# --core-fixed: the build for a kernel with kernel-patches/ only (Kbuild's VMDEV_CORE_FIXED=y,
# without the driver's ways around the core's PUD bugs), from a copy of the sources in
# build/core-fixed/, so that the default build stays as it is: make check's run that proves the
# patches alone close those bugs.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/install-deps.sh"
kdir=$(kernel_dir)
dir=$VMDEV_ROOT variant=() what=
if [ "${1:-}" = --core-fixed ]; then
  dir=$VMDEV_ROOT/build/core-fixed variant=(VMDEV_CORE_FIXED=y) what=" (VMDEV_CORE_FIXED=y)"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -rp "$VMDEV_ROOT"/{Kbuild,*.rs,vma_ops,vmdev_helpers.c,include,c_twin} "$dir/"
  rm -f "$dir"/c_twin/*.{o,ko,mod,mod.c} "$dir"/c_twin/.*.cmd
fi
# shellcheck disable=SC2046 # kmake_flags is a list of words
timed "module: rust-vmdev.ko against $kdir$what${CLIPPY:+ (clippy)}" \
  make -s -C "$kdir" M="$dir" $(kmake_flags) "${variant[@]}" ${CLIPPY:+CLIPPY=1} modules
# shellcheck disable=SC2046
timed "module: the C twin, c_twin/vmdev_c.ko$what" \
  make -s -C "$kdir" M="$dir/c_twin" $(kmake_flags) "${variant[@]}" modules
