#!/usr/bin/env bash
# Builds rust-vmdev.ko, and its C twin, against $KDIR or the cached test-VM kernel (built if needed).
# CLIPPY=1 builds it through clippy; warnings are errors either way (Kbuild).
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/install-deps.sh"
kdir=$(kernel_dir)
# shellcheck disable=SC2046 # kmake_flags is a list of words
timed "module: rust-vmdev.ko against $kdir${CLIPPY:+ (clippy)}" \
  make -s -C "$kdir" M="$VMDEV_ROOT" $(kmake_flags) ${CLIPPY:+CLIPPY=1} modules
# shellcheck disable=SC2046
timed "module: the C twin, c_twin/vmdev_c.ko" \
  make -s -C "$kdir" M="$VMDEV_ROOT/c_twin" $(kmake_flags) modules
