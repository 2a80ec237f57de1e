#!/usr/bin/env bash
# `make check-stock`: the selftest suite on Debian's own 7.3 cloud kernel image, booted under
# QEMU, with rust-vmdev.ko built by Debian's toolchain (scripts/stock-kernel.sh). Ends with how
# long each stage took and `N passed, N failed, N skipped`.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/install-deps.sh"
lap "dependencies"
read -r vmlinuz module < <("$VMDEV_ROOT/scripts/stock-kernel.sh")
say "stock: $(modinfo -F vermagic "$module" | sed 's/^/module vermagic: /')"
lap "stock kernel, rust-vmdev.ko for it"
# A log of its own, not make check's build/vm-check.log: the two can run side by side.
log=$VMDEV_ROOT/build/vm-check-stock.log
vm_ok=true
VM_LOG=$log VM_KERNEL=$vmlinuz VM_MODULE=$module "$VMDEV_ROOT/scripts/run-vm.sh" check || vm_ok=false
lap "VM: the suite"
read -r pass fail skip < <(totals 1 "$log")
$vm_ok || [ "$fail" -gt 0 ] || fail=1
laps
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
