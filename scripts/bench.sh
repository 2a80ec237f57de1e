#!/usr/bin/env bash
# `make bench`: rust_vmdev against its C twin and the kernel's peers (udmabuf, the dma-buf system
# heap, /dev/mem; anonymous and tmpfs memory) on a non-debug build of the test-VM kernel, in one
# boot; writes BENCHMARKS.md and bench/chart.svg.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/install-deps.sh"
KDIR=$("$VMDEV_ROOT/scripts/build-kernel.sh" "$VMDEV_ROOT/scripts/vm.config" "$VMDEV_ROOT/scripts/bench.config")
export KDIR
# Under plain TCG the guest's clock is the host's, shared by 2 vCPUs and QEMU on 2 cores: medians
# drift 5-30% between runs. With -icount the guest's time counts instructions (shift=4: 16 ns
# each), and two runs agree within 1%. Its emulated timers can fire late enough for RCU to report
# a stall at about 24 s of guest time (the same instant every run, as icount is deterministic):
# the stall timeout goes up to 300 s for this VM only, so a real hang is still reported.
# The run takes a few minutes; the timeout leaves room for a loaded host.
# BENCH_REPS=1 for a quick trial run (the report then has no spread); the default is 7.
VM_QEMU_ARGS=${VM_QEMU_ARGS-"-icount shift=4"} \
  VM_APPEND="rcupdate.rcu_cpu_stall_timeout=300${BENCH_REPS:+ vmdev_bench_reps=$BENCH_REPS}" \
  VM_TIMEOUT=${VM_TIMEOUT:-2400} "$VMDEV_ROOT/scripts/run-vm.sh" bench
cd "$VMDEV_ROOT/userspace"
timed "report: BENCHMARKS.md, bench/chart.svg" env -u RUSTC cargo run --quiet --release --locked --bin vmdev-report -- \
  "$VMDEV_ROOT/build/vm-bench.log" "$VMDEV_ROOT/BENCHMARKS.md" "$VMDEV_ROOT/bench/chart.svg"
