#!/usr/bin/env bash
# build-kernel.sh [FRAGMENT...]: builds (once) a test-VM kernel from Debian's 7.3 source with the
# project's fixes to the core (kernel-patches/), tinyconfig + the fragments in order (default
# scripts/vm.config + scripts/in-tree.config, the debug kernel).
# A kernel whose fragments include in-tree.config also carries the layer and the driver in-tree:
# `make series` (scripts/series.sh) as it stands in this work tree, synced into the kernel's own
# copy of the source at every call and rebuilt incrementally when it changed.
# The build directory is keyed by the source, the patches, the fragments and the toolchain versions, so a
# change to any of them builds a fresh tree and an unchanged one is reused.
# VMDEV_KERNEL_TARGETS: what to make (default: the image, modules_prepare and modules);
# `modules_prepare` alone gives a tree modules compile against, without Module.symvers.
# Prints the build directory (the KDIR for the module) on stdout; progress goes to stderr.
set -euo pipefail
source "$(dirname "$0")/common.sh"

fragments=("$@")
[ $# -gt 0 ] || fragments=("$VMDEV_ROOT/scripts/vm.config" "$VMDEV_ROOT/scripts/in-tree.config")
in_tree=false
for f in "${fragments[@]}"; do [ "${f##*/}" != in-tree.config ] || in_tree=true; done
read -ra targets <<<"${VMDEV_KERNEL_TARGETS:-$KIMAGE modules_prepare modules}"
pristine=$(echo "$VMDEV_CACHE"/src/linux-source-*)
[ -f "$pristine/Makefile" ] || die "no kernel source in $VMDEV_CACHE/src (run scripts/install-deps.sh)"

# Every kernel built here carries the project's fixes to the core, kernel-patches/*.patch (Debian's
# stock kernel, stock-kernel.sh, does not): a copy of the source with them applied, one per set
# of patches. The copy hard-links the files the patches leave alone.
patches=("$VMDEV_ROOT"/kernel-patches/*.patch)
patched=$(cat "${patches[@]}" | sha256sum | cut -c1-16)
src=$VMDEV_CACHE/src-patched/$patched/$(basename "$pristine")
mkdir -p "$(dirname "$src")"
exec 8>"$src.lock"
flock 8
if [ ! -f "$src/.vmdev-patched" ]; then
  say "kernel source: $(basename "$pristine") with ${#patches[@]} patches from kernel-patches/ in $src"
  rm -rf "$src"
  cp -al "$pristine" "$src"
  # A patched file gets a copy of its own first: patching a hard link would change the pristine
  # source too.
  sed -n 's|^+++ b/||p' "${patches[@]}" | sort -u | while read -r f; do
    cp --remove-destination "$pristine/$f" "$src/$f"
  done
  for p in "${patches[@]}"; do
    patch -s -p1 -d "$src" <"$p" || die "$(basename "$p") does not apply to $(basename "$pristine")"
  done
  touch "$src/.vmdev-patched"
fi
exec 8>&-

# The fault handler's branches (do_anonymous_page(), do_read_fault(), do_wp_page(), ...) are
# static functions of mm/memory.c that clang folds into handle_pte_fault(), where ftrace cannot
# see them. Inlining only what the source marks `inline` keeps each a function of its own, so the
# function tracer records which one a fault takes (make run, the suite's mm.fault_branches). Only
# a kernel with the function tracer gets it: the bench kernel compiles the core as distributions do.
memory_cflags='CFLAGS_memory.o=-finline-hint-functions'

# (The architecture joins the key only when it is not x86_64, which keeps x86's keys those of
# the trees already built.)
key=$( { basename "$src"; echo "patches $patched"; [ "$VMDEV_ARCH" = x86_64 ] || echo "ARCH=$VMDEV_ARCH"
         echo "$memory_cflags"
         [ -z "${VMDEV_KERNEL_TARGETS:-}" ] || echo "targets ${targets[*]}"
         cat "${fragments[@]}"; "$RUSTC" -vV; "$BINDGEN" --version; clang --version; } |
       sha256sum | cut -c1-16)
out=$VMDEV_CACHE/kernel/$key
# One build of a key at a time: a second `make` (another work tree, check-arm64 beside check)
# waits for the first instead of deleting its tree below, then finds it built.
mkdir -p "$VMDEV_CACHE/kernel"
exec 9>"$out.lock"
flock 9

kmake=(make -C "$src" O="$out" LLVM=1 "${KARCH_FLAGS[@]}" RUSTC="$RUSTC" RUSTDOC="$RUSTDOC" BINDGEN="$BINDGEN" -j"$(($(nproc) + 1))")
# The in-tree kernel: its own source tree, hard links to the patched one but for the series'
# files, which are written over them (a write to a link would change every tree). The series is
# keyed out of the build: a change to the layer rebuilds what it touches, not the kernel; a
# stamp says which state of the series the tree was last built with. Its Rust is built through
# clippy, and a warning in the series' files fails the build.
# VMDEV_SERIES_STEPS=N (series-check.sh): the tree with the first N patches of the series only,
# and only the kernel crate and the samples built (the check that each patch builds).
steps=${VMDEV_SERIES_STEPS:-}
[ -z "$steps" ] || $in_tree || die "VMDEV_SERIES_STEPS is for the in-tree kernel"
if $in_tree; then
  base_src=$src src=$out.src
  kmake[2]=$src
  kmake+=(CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver)
  if [ ! -f "$src/.vmdev-linked" ]; then
    rm -rf "$src"
    cp -al "$base_src" "$src"
    touch "$src/.vmdev-linked"
  fi
  overlay=$(mktemp -d)
  trap 'rm -rf "$overlay"' EXIT
  "$VMDEV_ROOT/scripts/series.sh" tree "$overlay" ${steps:+"$steps"}
  [ -z "$steps" ] || rm -f "$out/.vmdev-series-built"
  sync_overlay "$overlay" "$src" "$base_src" || true
  state=$(cd "$overlay" && find . -type f | sort | xargs sha256sum | sha256sum | cut -c1-16)
  [ -z "$steps" ] || targets=(rust/ samples/rust/)
fi
if [ -f "$out/.vmdev-built" ] && [ -z "$steps" ] &&
   { ! $in_tree || [ "$(cat "$out/.vmdev-series-built" 2>/dev/null)" = "$state" ]; }; then
  say "kernel: cached in $out (key $key)"
  echo "$out"
  exit 0
fi
# The samples the series touches, as modules: the driver (once the series has its symbol) and
# upstream's misc device sample, the other user of the misc-device API the series changes.
in_tree_config() {
  $in_tree || return 0
  "$src/scripts/config" --file "$out/.config" -m SAMPLE_RUST_MISC_DEVICE
  ! grep -q '^config SAMPLE_RUST_VMDEV$' "$src/samples/rust/Kconfig" ||
    "$src/scripts/config" --file "$out/.config" -m SAMPLE_RUST_VMDEV
  "${kmake[@]}" -s olddefconfig
}
# make TARGET...: the build, its output kept in $out/.vmdev-make.log; for the in-tree kernel a
# warning or error in a file of the series fails it.
build() {
  local rc=0 files
  "${kmake[@]}" "${inlining[@]}" -s "$@" 2>&1 | tee "$out/.vmdev-make.log" || rc=1
  [ $rc = 0 ] && $in_tree || return $rc
  files=$(cd "$overlay" && find . -type f | sed 's|^\./||' | paste -sd'|')
  if grep -E -A6 '^(warning|error)' "$out/.vmdev-make.log" | grep -qE "($files)"; then
    echo "the series' files have warnings (all of the build's output in $out/.vmdev-make.log)"
    return 1
  fi
}
inlining=()
! grep -qx 'CONFIG_FUNCTION_TRACER=y' "$out/.config" 2>/dev/null || inlining=("$memory_cflags")
if [ -f "$out/.vmdev-built" ]; then
  what="the series"
  [ -z "$steps" ] || what="the series' first $steps patches"
  {
    timed "kernel: $what: config" in_tree_config
    timed "kernel: $what: make ${targets[*]} in $out" build "${targets[@]}"
  } >&2
  [ -n "$steps" ] || echo "$state" >"$out/.vmdev-series-built"
  echo "$out"
  exit 0
fi

say "kernel: building $(basename "${base_src:-$src}") + ${fragments[*]##*/} into $out (key $key: source, ${KARCH_FLAGS[*]:+$VMDEV_ARCH, }fragments, rustc, bindgen, clang); about 7 minutes on 2 cores"
rm -rf "$out"
mkdir -p "$out"
# tinyconfig, the fragments merged onto it in order, then olddefconfig for their dependencies.
configure() {
  "${kmake[@]}" -s tinyconfig >/dev/null &&
    KCONFIG_CONFIG="$out/.config" "$src/scripts/kconfig/merge_config.sh" -m -O "$out" \
      "$out/.config" "${fragments[@]}" >/dev/null &&
    "${kmake[@]}" -s olddefconfig
}
{
  timed "kernel: tinyconfig + ${fragments[*]##*/}" configure
  # A dropped line (a missing dependency) would leave a kernel that quietly tests less: each
  # symbol's last setting in the fragments must be in the final config.
  wanted=$(grep -hE '^(CONFIG_|# CONFIG_)' "${fragments[@]}" |
           awk '{ sym = ($1 == "#") ? $2 : substr($1, 1, index($1, "=") - 1); last[sym] = $0 }
                END { for (s in last) print last[s] }')
  # ("is not set" also holds when a dependency removed the symbol from .config altogether.)
  dropped=$(while read -r line; do
    case $line in
      "# "*) sym=${line#\# }; sym=${sym%% *}
             ! grep -q "^$sym=" "$out/.config" || echo "$line" ;;
      *) grep -qxF "$line" "$out/.config" || echo "$line" ;;
    esac
  done <<<"$wanted")
  [ -z "$dropped" ] || die "kernel config lost these lines of ${fragments[*]##*/}:"$'\n'"$dropped"
  timed "kernel: the series' config" in_tree_config
  inlining=()
  ! grep -qx 'CONFIG_FUNCTION_TRACER=y' "$out/.config" || inlining=("$memory_cflags")
  timed "kernel: make ${targets[*]}" build "${targets[@]}"
} >&2
# (A first build for VMDEV_SERIES_STEPS makes the crate and the samples only: the tree is
# configured and built as far as that, and the next call builds on it.)
touch "$out/.vmdev-built"
! $in_tree || [ -n "$steps" ] || echo "$state" >"$out/.vmdev-series-built"
echo "$out"
