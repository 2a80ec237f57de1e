#!/usr/bin/env bash
# Builds rust-vmdev.ko, and its C twin, against $KDIR or the cached test-VM kernel (built if needed).
# CLIPPY=1 builds it through clippy; warnings are errors either way (Kbuild).
#
# Two variants build from a copy of the sources in build/VARIANT/, so the default build stays:
# --core-fixed  for a kernel with kernel-patches/ only (Kbuild's VMDEV_CORE_FIXED=y, without the
#               driver's ways around the core's PUD bugs): make check's run that proves the
#               patches alone close those bugs.
# --cfg-off     compile only, against a kernel prepared with every option the module's cfgs name
#               turned off (scripts/cfg-off.config): the code without them must build too.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/install-deps.sh"
dir=$VMDEV_ROOT variant=() what=
case ${1:-} in
  "") kdir=$(kernel_dir) ;;
  --core-fixed) kdir=$(kernel_dir) variant=(VMDEV_CORE_FIXED=y) what=" (VMDEV_CORE_FIXED=y)" ;;
  # No Module.symvers without a kernel build: modpost warns of the symbols it cannot check.
  --cfg-off) kdir=$(VMDEV_KERNEL_TARGETS=modules_prepare "$VMDEV_ROOT/scripts/build-kernel.sh" \
                      "$VMDEV_ROOT/scripts/cfg-off.config")
             variant=(KBUILD_MODPOST_WARN=1) what=" (cfg-off.config, compile only)" ;;
  *) die "usage: build-module.sh [--core-fixed | --cfg-off]" ;;
esac
if [ -n "${1:-}" ]; then
  dir=$VMDEV_ROOT/build/${1#--}
  rm -rf "$dir"
  copy_module_sources "$dir"
  cp -rp "$VMDEV_ROOT/c_twin" "$dir/"
  rm -f "$dir"/c_twin/*.{o,ko,mod,mod.c} "$dir"/c_twin/.*.cmd
fi
# shellcheck disable=SC2046 # kmake_flags is a list of words
timed "module: rust-vmdev.ko against $kdir$what${CLIPPY:+ (clippy)}" \
  make -s -C "$kdir" M="$dir" $(kmake_flags) "${variant[@]}" ${CLIPPY:+CLIPPY=1} modules
# shellcheck disable=SC2046
timed "module: the C twin, c_twin/vmdev_c.ko$what" \
  make -s -C "$kdir" M="$dir/c_twin" $(kmake_flags) "${variant[@]}" modules
