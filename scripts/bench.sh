#!/usr/bin/env bash
# `make bench`: rust_vmdev against its C twin on a non-debug build of the test-VM kernel, in one
# boot; writes BENCHMARKS.md and bench/chart.svg.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/install-deps.sh"
KDIR=$("$VMDEV_ROOT/scripts/build-kernel.sh" "$VMDEV_ROOT/scripts/vm.config" "$VMDEV_ROOT/scripts/bench.config")
export KDIR
"$VMDEV_ROOT/scripts/run-vm.sh" bench
cd "$VMDEV_ROOT/userspace"
timed "report: BENCHMARKS.md, bench/chart.svg" env -u RUSTC cargo run --quiet --release --locked --bin vmdev-report -- \
  "$VMDEV_ROOT/build/vm-bench.log" "$VMDEV_ROOT/BENCHMARKS.md" "$VMDEV_ROOT/bench/chart.svg"
