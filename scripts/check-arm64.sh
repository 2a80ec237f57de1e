#!/usr/bin/env bash
# `make check-arm64 [PAGE=4k|16k]`: the selftest suite, against the module and its C twin, on an
# arm64 build of the debug kernel under QEMU's virt machine (TCG, -cpu max), with 4 KiB pages,
# then 16 KiB pages (PAGE= runs one). Each kernel is tinyconfig + scripts/vm.config (the same
# debug gate as x86) + scripts/arm64.config (+ scripts/arm64-16k.config), cross-built by clang
# and cached like the x86 kernels (scripts/build-kernel.sh, the key includes the architecture).
# The same splat gate as make check. Ends with `N passed, N failed, N skipped` over all runs.
set -euo pipefail
export VMDEV_ARCH=arm64
source "$(dirname "$0")/common.sh"

read -r -a pages <<<"${PAGE:-4k 16k}"
for page in "${pages[@]}"; do
  case $page in
    4k | 16k) ;;
    *) die "PAGE=$page: 4k or 16k" ;;
  esac
done

"$VMDEV_ROOT/scripts/install-deps.sh"
"$VMDEV_ROOT/scripts/install-deps-arm64.sh"
"$VMDEV_ROOT/scripts/build-userspace.sh"

pass=0 fail=0 skip=0
summary=()
for page in "${pages[@]}"; do
  fragments=("$VMDEV_ROOT/scripts/vm.config" "$VMDEV_ROOT/scripts/arm64.config")
  [ "$page" = 4k ] || fragments+=("$VMDEV_ROOT/scripts/arm64-$page.config")
  kdir=$("$VMDEV_ROOT/scripts/build-kernel.sh" "${fragments[@]}")
  # The modules are built from a copy of their sources in build/arm64-PAGE/, so their objects
  # never mix with the x86 build's beside the sources (kbuild's MO= refuses a source tree that
  # holds objects, which the x86 build leaves).
  out=$VMDEV_ROOT/build/arm64-$page
  mkdir -p "$out/module/c_twin"
  cp -rp "$VMDEV_ROOT"/{Kbuild,*.rs,vma_ops,vmdev_helpers.c,include} "$out/module/"
  cp -p "$VMDEV_ROOT"/c_twin/{Kbuild,*.c} "$out/module/c_twin/"
  # shellcheck disable=SC2046 # kmake_flags is a list of words
  timed "module: rust-vmdev.ko for arm64 $page" \
    make -s -C "$kdir" M="$out/module" $(kmake_flags) modules
  # shellcheck disable=SC2046
  timed "module: the C twin, vmdev_c.ko for arm64 $page" \
    make -s -C "$kdir" M="$out/module/c_twin" $(kmake_flags) modules

  log=$VMDEV_ROOT/build/vm-check-arm64-$page.log
  vm_ok=true
  # A log of its own, not make check's build/vm-check.log: the two can run side by side.
  VM_LOG=$log VM_KERNEL=$kdir/arch/arm64/boot/Image VM_MODULE=$out/module/rust-vmdev.ko \
    VM_TWIN=$out/module/c_twin/vmdev_c.ko "$VMDEV_ROOT/scripts/run-vm.sh" check || vm_ok=false

  # Each suite run (the module, then its C twin) ends with `N passed, N failed, N skipped`.
  read -r p f s < <(awk '/^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped/ { p += $1; f += $3; s += $5; n++ }
    END { if (n < 2) f += 1; print p + 0, f + 0, s + 0 }' "$log")
  # One more test each: the kernel log is free of splats, and the guest ran what was asked for.
  want="Linux 7.3.4 aarch64, page size ${page%k} kB"
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
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
