#!/usr/bin/env bash
# `make check-stock`: the selftest suite on Debian's own 7.3 cloud kernel image, booted under
# QEMU, with rust-vmdev.ko built by Debian's toolchain (scripts/stock-kernel.sh).
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/install-deps.sh"
read -r vmlinuz module < <("$VMDEV_ROOT/scripts/stock-kernel.sh")
say "stock: $(modinfo -F vermagic "$module" | sed 's/^/module vermagic: /')"
VM_KERNEL=$vmlinuz VM_MODULE=$module "$VMDEV_ROOT/scripts/run-vm.sh" check
grep -E '^[0-9]+ passed, [0-9]+ failed' "$VMDEV_ROOT/build/vm-check.log" | tail -n 1
