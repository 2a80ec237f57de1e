# Sourced by the other scripts: one place for paths, toolchain and timing helpers.
# shellcheck shell=bash

VMDEV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VMDEV_CACHE=${VMDEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust-vmdev}
# The kernel's Rust needs a rustc with matching core/alloc sources: Debian's rustc-web
# ships both, the rustup toolchain on PATH has no rust-src.
RUSTC=${RUSTC:-/usr/bin/rustc}
BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
# KASAN together with Rust needs clang, and CONFIG_RUST_INLINE_HELPERS a clang on rustc's own
# LLVM (22 for rustc-web 1.96); LLVM=1 picks the unversioned names from this dir, and bindgen
# finds this LLVM's libclang through its llvm-config.
export PATH=/usr/lib/llvm-22/bin:$PATH

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# timed LABEL CMD...: run CMD (a program or a function), then say how long it took. Under
# set -e a failing CMD ends the script as it would without timed; in a condition
# (`timed ... || ok=false`, where set -e is off) timed returns CMD's status.
timed() {
  local label=$1 start=$SECONDS rc
  shift
  say "$label"
  "$@"
  rc=$?
  if [ "$rc" != 0 ]; then
    say "$label: FAILED (status $rc) after $((SECONDS - start)) s"
    return "$rc"
  fi
  say "$label: done in $((SECONDS - start)) s"
}

# The kernel tree modules build against: $KDIR when given, else the cached test-VM kernel.
kernel_dir() {
  if [ -n "${KDIR:-}" ]; then
    echo "$KDIR"
  else
    "$VMDEV_ROOT/scripts/build-kernel.sh"
  fi
}

# Flags for every make run in the kernel tree.
kmake_flags() {
  echo LLVM=1 RUSTC="$RUSTC" BINDGEN="$BINDGEN" CLIPPY_DRIVER=/usr/bin/clippy-driver
}

# Prints the lines of a guest console log that show a kernel splat (empty when clean).
kernel_splats() {
  grep -E 'BUG:|kernel BUG at|WARNING:|KASAN:|Oops|possible circular locking|panicked at|suspected memory leak|Kernel panic|blocked for more than|detected stall' "$1" || true
}
