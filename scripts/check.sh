#!/usr/bin/env bash
# `make check`: the patch series and its checks (series-check.sh, first: it leaves the debug
# kernel built with the whole series), lints, the host-side unit tests, the misuse of the
# abstraction that must not compile (compile-fail.sh), the build with the options the module's
# cfgs name turned off (build-module.sh --cfg-off), then the kselftest-style suite in the test
# VM, whose kernel log must show no splat, then `make shell` fed from a pipe (test-shell.sh).
# Ends with how long each stage took and `N passed, N failed, N skipped` over all of it.
set -euo pipefail
source "$(dirname "$0")/common.sh"

mkdir -p "$VMDEV_ROOT/build"
series_log=$VMDEV_ROOT/build/series-check.out
timed "series: make series, each patch built, checkpatch, rustdoc" \
  "$VMDEV_ROOT/scripts/series-check.sh" >"$series_log" || true
cat "$series_log"
lap "series"
"$VMDEV_ROOT/scripts/lint.sh"
lap "lint"
host_log=$VMDEV_ROOT/build/host-tests.log
vm_log=$VMDEV_ROOT/build/vm-check.log vm2_log=$VMDEV_ROOT/build/vm-check-2.log
rm -f "$vm_log" "$vm2_log" "$VMDEV_ROOT"/build/vm-check-{qemu64,core-fixed}.log

host_tests() {
  (cd "$VMDEV_ROOT/userspace" && env -u RUSTC cargo test --locked 2>&1) | tee "$host_log"
}
host_ok=true
timed "host: cargo test" host_tests || host_ok=false
lap "host: cargo test"
cf_log=$VMDEV_ROOT/build/compile-fail.log
cf_ok=true
timed "host: compile-fail" "$VMDEV_ROOT/scripts/compile-fail.sh" >"$cf_log" || cf_ok=false
cat "$cf_log"
lap "host: compile-fail"
# The same misuses against the layer in-tree (the debug kernel's, from the series).
cf_tree_log=$VMDEV_ROOT/build/compile-fail-in-tree.log
timed "host: compile-fail against the layer in-tree" \
  "$VMDEV_ROOT/scripts/compile-fail.sh" --in-tree >"$cf_tree_log" || cf_ok=false
cat "$cf_tree_log"
lap "host: compile-fail in-tree"
# One more test: the module and its twin build with every option their cfgs name turned off.
# (Its output, modpost's warnings of the symbols it cannot check among them, in build/cfg-off.log.)
cfg_off_log=$VMDEV_ROOT/build/cfg-off.log
if timed "host: build with cfg-off.config" "$VMDEV_ROOT/scripts/build-module.sh" --cfg-off >"$cfg_off_log" 2>&1; then
  o_pass=1 o_fail=0
else
  o_pass=0 o_fail=1
  grep -E '^(error|warning)|error:' -A8 "$cfg_off_log" | head -40
fi
lap "host: build with cfg-off.config"
vm_ok=true
# The suite's runs in two VMs side by side, each a part (guest-init.sh's vmdev_part): under TCG
# a guest running the suite keeps about one of the two cores busy. Part 1: the module, then the
# kernel's own build of it from the series; part 2: the C twin, then (vmdev_hooks=both) the
# nodes' tests once more against each with the classic f_op->mmap hook. What they boot is built
# first, so that the two build nothing; part 2's output follows part 1's.
"$VMDEV_ROOT/scripts/build-module.sh"
kdir=$(kernel_dir)
vm_files=(VM_KERNEL="$kdir/$KIMAGE_PATH" VM_MODULE="$VMDEV_ROOT/rust-vmdev.ko"
          VM_TWIN="$VMDEV_ROOT/c_twin/vmdev_c.ko")
in_tree_ko=$kdir/samples/rust/rust_vmdev/rust-vmdev.ko
[ ! -f "$in_tree_ko" ] || vm_files+=(VM_IN_TREE="$in_tree_ko")
"$VMDEV_ROOT/scripts/build-userspace.sh"
env "${vm_files[@]}" VM_LOG="$vm2_log" VM_APPEND="vmdev_hooks=both vmdev_part=2" \
  "$VMDEV_ROOT/scripts/run-vm.sh" check >"${vm2_log%.log}.out" 2>&1 &
part2=$!
env "${vm_files[@]}" VM_APPEND="vmdev_hooks=both vmdev_part=1" "$VMDEV_ROOT/scripts/run-vm.sh" check ||
  vm_ok=false
wait $part2 || vm_ok=false
cat "${vm2_log%.log}.out"
lap "VM: the suite (two VMs)"
# The tests of the 1 GiB range once more on a CPU without 1 GiB pages (QEMU's qemu64 has no
# pdpe1gb; the last -cpu wins): the driver must then map it with PMD entries, and split it.
nopud_log=$VMDEV_ROOT/build/vm-check-qemu64.log
VM_LOG=$nopud_log VM_QEMU_ARGS="-cpu qemu64" \
  VM_APPEND="vmdev_tests=module.load,module.pud_,module.split_pud_,module.unload,module.kmemleak_clean" \
  "$VMDEV_ROOT/scripts/run-vm.sh" check || vm_ok=false
lap "VM: the 1 GiB range on -cpu qemu64"
# The tests of the core's PUD bugs once more, with the patches of kernel-patches/ in the kernel
# (every kernel build-kernel.sh makes has them) and the module built without its ways around
# those bugs: the patches alone must close them. The module alone: what the run proves is the
# kernel's (the twin's build without them is compiled here all the same).
fixed_log=$VMDEV_ROOT/build/vm-check-core-fixed.log
"$VMDEV_ROOT/scripts/build-module.sh" --core-fixed
fixed=$VMDEV_ROOT/build/core-fixed
VM_LOG=$fixed_log VM_KERNEL=$(kernel_dir)/$KIMAGE_PATH VM_MODULE=$fixed/rust-vmdev.ko \
  VM_APPEND="vmdev_tests=module.load,module.split_pud_,module.pud_range_mremap,module.unload,module.kmemleak_clean vmdev_reproducer=1" \
  "$VMDEV_ROOT/scripts/run-vm.sh" check || vm_ok=false
lap "VM: the core-fixed build"
# One more test: the interactive shell's VM, driven through a pipe.
if "$VMDEV_ROOT/scripts/test-shell.sh"; then s_pass=1 s_fail=0; else s_pass=0 s_fail=1; fi
lap "VM: the shell"

# cargo prints `test result: ok. 3 passed; 0 failed; 0 ignored; ...` per test binary.
read -r h_pass h_fail h_skip < <(awk '/^test result:/ { p += $4; f += $6; s += $8 }
  END { print p + 0, f + 0, s + 0 }' "$host_log")
$host_ok || [ "$h_fail" -gt 0 ] || h_fail=1 # cargo test failed before running tests
read -r c_pass c_fail _ < <(totals 2 "$cf_log" "$cf_tree_log")
$cf_ok || [ "$c_fail" -gt 0 ] || c_fail=1
read -r p_pass p_fail _ < <(totals 1 "$series_log")
# The KUnit cases built into the kernel with the series, which the in-tree row's module.kunit
# runs and lists one by one (`kunit SUITE: ok N NAME`): the kernel crate's doctests
# (rust_doctests_kernel) and the in-tree layer's cases (rust_kernel_mm_*). None at all fails.
read -r b_pass b_fail < <(grep -oE 'kunit (rust_doctests_kernel|rust_kernel_mm_[a-z_]+): (not )?ok' "$vm_log" |
  awk '/not ok$/ { f++; next } { p++ } END { print p + 0, f + (p + f ? 0 : 1) }')
read -r v_pass v_fail v_skip < <(totals 1 "$vm_log" "$vm2_log" "$nopud_log" "$fixed_log")
# One more test per VM run: its kernel log is free of splats.
k_pass=0 k_fail=0
for log in "$vm_log" "$vm2_log" "$nopud_log" "$fixed_log"; do
  if [ -s "$log" ] && [ -z "$(kernel_splats "$log")" ]; then k_pass=$((k_pass + 1)); else k_fail=$((k_fail + 1)); fi
done
$vm_ok || [ $((v_fail + k_fail)) -gt 0 ] || v_fail=$((v_fail + 1))

say "series: $p_pass passed, $p_fail failed; in-kernel KUnit cases (doctests, the layer in-tree): $b_pass passed, $b_fail failed; host unit tests: $h_pass passed, $h_fail failed; compile-fail: $c_pass passed, $c_fail failed; cfg-off build: $o_pass passed, $o_fail failed; VM suite: $v_pass passed, $v_fail failed, $v_skip skipped; kernel log clean: $k_pass passed, $k_fail failed; shell: $s_pass passed, $s_fail failed"
laps
failed=$((p_fail + b_fail + h_fail + c_fail + o_fail + v_fail + k_fail + s_fail))
echo "$((p_pass + b_pass + h_pass + c_pass + o_pass + v_pass + k_pass + s_pass)) passed, $failed failed, $((h_skip + v_skip)) skipped"
[ "$failed" -eq 0 ]
