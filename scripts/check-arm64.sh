#!/usr/bin/env bash
# `make check-arm64 [PAGE=4k|16k]`: the selftest suite, against the module and its C twin, on an
# arm64 build of the debug kernel under QEMU's virt machine (TCG, -cpu max), once per page size
# of common.sh's table (4 KiB, then 16 KiB; PAGE= runs one). Each kernel is tinyconfig +
# scripts/vm.config (the same debug gate as x86) + scripts/arm64.config
# (+ scripts/arm64-PAGE.config), cross-built by clang and cached like the x86 kernels
# (scripts/build-kernel.sh, the key includes the architecture). The same splat gate as make
# check. Ends with how long each stage took and `N passed, N failed, N skipped` over all runs.
set -euo pipefail
export VMDEV_ARCH=arm64
source "$(dirname "$0")/common.sh"

read -r -a pages <<<"${PAGE:-${PAGE_SIZES[*]}}"
for page in "${pages[@]}"; do
  [[ " ${PAGE_SIZES[*]} " == *" $page "* ]] || die "PAGE=$page: one of ${PAGE_SIZES[*]}"
done

"$VMDEV_ROOT/scripts/install-deps.sh"
"$VMDEV_ROOT/scripts/install-deps-arm64.sh"
"$VMDEV_ROOT/scripts/build-userspace.sh"
lap "dependencies, userspace"

pass=0 fail=0 skip=0
summary=()
for page in "${pages[@]}"; do
  fragments=("$VMDEV_ROOT/scripts/vm.config" "$VMDEV_ROOT/scripts/arm64.config")
  [ "$page" = 4k ] || fragments+=("$VMDEV_ROOT/scripts/arm64-$page.config")
  kdir=$("$VMDEV_ROOT/scripts/build-kernel.sh" "${fragments[@]}")
  lap "$page: kernel"
  # The modules are built from a copy of their sources in build/arm64-PAGE/, so their objects
  # never mix with the x86 build's beside the sources (kbuild's MO= refuses a source tree that
  # holds objects, which the x86 build leaves).
  out=$VMDEV_ROOT/build/arm64-$page
  copy_module_sources "$out/module"
  # shellcheck disable=SC2046 # kmake_flags is a list of words
  timed "module: rust-vmdev.ko for arm64 $page" \
    make -s -C "$kdir" M="$out/module" $(kmake_flags) modules
  # shellcheck disable=SC2046
  timed "module: the C twin, vmdev_c.ko for arm64 $page" \
    make -s -C "$kdir" M="$out/module/c_twin" $(kmake_flags) modules
  lap "$page: modules"

  log=$VMDEV_ROOT/build/vm-check-arm64-$page.log
  vm_ok=true
  # A log of its own, not make check's build/vm-check.log: the two can run side by side.
  VM_LOG=$log VM_KERNEL=$kdir/$KIMAGE_PATH VM_MODULE=$out/module/rust-vmdev.ko \
    VM_TWIN=$out/module/c_twin/vmdev_c.ko "$VMDEV_ROOT/scripts/run-vm.sh" check || vm_ok=false
  lap "$page: VM suite"

  # Each suite run (the module, then its C twin) ends with `N passed, N failed, N skipped`.
  read -r p f s < <(totals 2 "$log")
  # One more test each: the kernel log is free of splats, and the guest ran what was asked for.
  want="Linux 7.3.4 $UNAME_M, page size ${page%k} kB"
  if [ -z "$(kernel_splats "$log")" ] && grep -q "Linux version 7.3.4" "$log" &&
     grep -q "vmdev-guest: $want" "$log"; then
    p=$((p + 1))
  else
    say "arm64 $page: the log has a splat, or no 'Linux version 7.3.4', or no 'vmdev-guest: $want'"
    f=$((f + 1))
  fi
  $vm_ok || [ "$f" -gt 0 ] || f=1
  summary+=("arm64 $page: $p passed, $f failed, $s skipped (console in ${log#"$VMDEV_ROOT"/})")
  pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
done

for line in "${summary[@]}"; do say "$line"; done
laps
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
