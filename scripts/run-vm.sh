#!/usr/bin/env bash
# Boots the test VM (QEMU, TCG: KVM is not usable on these machines) with the module and the
# userspace programs, in MODE demo, fixtures, stress or check (see guest-init.sh); VM_APPEND
# adds to the kernel command line. Streams the console and keeps it in build/vm-MODE.log.
# Fails when the guest did not finish (panic, hang), when its programs failed, or when the
# kernel log shows a splat.
set -euo pipefail
source "$(dirname "$0")/common.sh"

mode=$1
"$VMDEV_ROOT/scripts/build-userspace.sh"
# VM_KERNEL and VM_MODULE boot another kernel with a module built for it (check-stock.sh).
if [ -z "${VM_KERNEL:-}" ]; then
  "$VMDEV_ROOT/scripts/build-module.sh"
  VM_KERNEL=$(kernel_dir)/arch/x86/boot/bzImage VM_MODULE=$VMDEV_ROOT/rust-vmdev.ko
  twin=$VMDEV_ROOT/c_twin/vmdev_c.ko
fi
"$VMDEV_ROOT/scripts/build-initramfs.sh" "$VM_MODULE" ${twin:-}

log=$VMDEV_ROOT/build/vm-$mode.log
# panic_on_warn: a WARN ends the run at once, with its backtrace on the console.
# memmap=4M$1G reserves 4 MiB at 1 GiB for the module's boot-reserved mode (phys_base).
cmdline="console=ttyS0 loglevel=7 panic=-1 oops=panic panic_on_warn=1 page_poison=1
         memmap=4M\$0x40000000 vmdev_mode=$mode ${VM_APPEND:-}"
say "vm: booting $VM_KERNEL (TCG, 2 vCPUs, 2 GiB), console in $log"
start=$SECONDS
set +e
# VM_QEMU_ARGS adds QEMU options (e.g. -icount shift=auto to tie guest time to instructions).
# shellcheck disable=SC2086
timeout --foreground "${VM_TIMEOUT:-900}" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2G ${VM_QEMU_ARGS:-} \
  -nographic -no-reboot -kernel "$VM_KERNEL" \
  -initrd "$VMDEV_ROOT/build/initramfs.cpio" -append "$(echo $cmdline)" </dev/null | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
say "vm: finished in $((SECONDS - start)) s"

splats=$(kernel_splats "$log")
guest_rc=$(sed -n 's/.*vmdev-guest: exit status \([0-9]*\).*/\1/p' "$log" | tail -n 1)
if [ -n "$splats" ]; then
  say "vm: FAILED: the kernel log has a splat:"$'\n'"$splats"
  exit 1
elif [ -z "$guest_rc" ]; then
  say "vm: FAILED: the guest did not finish (qemu status $qemu_rc: 124 is a timeout)"
  exit 1
elif [ "$guest_rc" != 0 ]; then
  say "vm: FAILED: the guest's programs exited with status $guest_rc"
  exit 1
fi
say "vm: guest finished cleanly, no splat in the kernel log"
