#!/usr/bin/env bash
# `make check-stock`: the selftest suite on Debian's own 7.3 cloud kernel image, booted under
# QEMU, with rust-vmdev.ko built by Debian's toolchain (scripts/stock-kernel.sh).
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/install-deps.sh"
read -r vmlinuz module < <("$VMDEV_ROOT/scripts/stock-kernel.sh")
say "stock: $(modinfo -F vermagic "$module" | sed 's/^/module vermagic: /')"
# A log of its own, not make check's build/vm-check.log: the two can run side by side.
log=$VMDEV_ROOT/build/vm-check-stock.log
VM_LOG=$log VM_KERNEL=$vmlinuz VM_MODULE=$module "$VMDEV_ROOT/scripts/run-vm.sh" check
awk '/^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped/ { p += $1; f += $3; s += $5 }
  END { print p + 0 " passed, " f + 0 " failed, " s + 0 " skipped" }' "$log"
