#!/usr/bin/env bash
# Builds (once) the test-VM kernel from Debian's 7.3 source, tinyconfig + scripts/vm.config.
# The build directory is keyed by the source, the fragment and the toolchain versions, so a
# change to any of them builds a fresh tree and an unchanged one is reused.
# Prints the build directory (the KDIR for the module) on stdout; progress goes to stderr.
set -euo pipefail
source "$(dirname "$0")/common.sh"

fragment=$VMDEV_ROOT/scripts/vm.config
src=$(echo "$VMDEV_CACHE"/src/linux-source-*)
[ -f "$src/Makefile" ] || die "no kernel source in $VMDEV_CACHE/src (run scripts/install-deps.sh)"

key=$( { basename "$src"; cat "$fragment"; "$RUSTC" -vV; "$BINDGEN" --version; clang --version; } |
       sha256sum | cut -c1-16)
out=$VMDEV_CACHE/kernel/$key
if [ -f "$out/.vmdev-built" ]; then
  say "kernel: cached in $out (key $key)"
  echo "$out"
  exit 0
fi

say "kernel: building $(basename "$src") into $out (key $key: source, vm.config, rustc, bindgen, clang); about 7 minutes on 2 cores"
rm -rf "$out"
mkdir -p "$out"
kmake=(make -C "$src" O="$out" LLVM=1 RUSTC="$RUSTC" BINDGEN="$BINDGEN" -j"$(($(nproc) + 1))")
{
  timed "kernel: tinyconfig + vm.config" bash -c '
    "$@" -s tinyconfig >/dev/null &&
    KCONFIG_CONFIG="'"$out"'/.config" "'"$src"'/scripts/kconfig/merge_config.sh" -m -O "'"$out"'" \
      "'"$out"'/.config" "'"$fragment"'" >/dev/null &&
    "$@" -s olddefconfig' _ "${kmake[@]}"
  # A dropped line (a missing dependency) would leave a kernel that quietly tests less.
  dropped=$(grep -E '^(CONFIG_|# CONFIG_)' "$fragment" | grep -vxFf "$out/.config" || true)
  [ -z "$dropped" ] || die "kernel config lost these lines of vm.config:"$'\n'"$dropped"
  timed "kernel: make bzImage modules_prepare modules" "${kmake[@]}" -s bzImage modules_prepare modules
} >&2
touch "$out/.vmdev-built"
echo "$out"
