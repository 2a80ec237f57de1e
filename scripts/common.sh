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
# VMDEV_ARCH: what the kernel, the modules and the userspace programs are built for and the VM
# emulates: x86_64 (the default) or arm64 (make check-arm64: clang cross-builds the kernel,
# -Zbuild-std the programs: build-userspace.sh). KARCH_FLAGS go to every make in the kernel tree;
# USERSPACE_BINS is where the static programs are, BUSYBOX the static busybox for the initramfs.
VMDEV_ARCH=${VMDEV_ARCH:-x86_64}
# shellcheck disable=SC2034 # used by the scripts that source this file
case $VMDEV_ARCH in
  x86_64) KARCH_FLAGS=() KIMAGE=bzImage RUST_TARGET=x86_64-unknown-linux-gnu
          USERSPACE_BINS=$VMDEV_ROOT/userspace/target/$RUST_TARGET/release BUSYBOX=/bin/busybox ;;
  arm64) KARCH_FLAGS=(ARCH=arm64) KIMAGE=Image RUST_TARGET=aarch64-unknown-linux-gnu
         USERSPACE_BINS=$VMDEV_ROOT/userspace/target/arm64/$RUST_TARGET/release
         BUSYBOX=$VMDEV_CACHE/arm64/busybox ;;
  *) printf 'error: VMDEV_ARCH=%s is not x86_64 or arm64\n' "$VMDEV_ARCH" >&2; exit 1 ;;
esac

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

# install_debs WHAT PACKAGE...: installs those of the Debian packages that are missing, saying
# what it installs and how long it took, or that WHAT is all present.
install_debs() {
  local what=$1 p missing=()
  shift
  # dpkg-query prints "install ok installed" only for fully installed packages.
  for p in "$@"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    timed "apt-get install ${missing[*]}" apt_install "${missing[@]}"
  else
    say "$what: all present"
  fi
}

apt_install() {
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
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
  echo LLVM=1 "${KARCH_FLAGS[@]}" RUSTC="$RUSTC" BINDGEN="$BINDGEN" CLIPPY_DRIVER=/usr/bin/clippy-driver
}

# Prints the lines of a guest console log that show a kernel splat (empty when clean).
kernel_splats() {
  grep -E 'BUG:|kernel BUG at|bad p(te|md|ud|4d|gd) |WARNING:|KASAN:|Oops|possible circular locking|panicked at|suspected memory leak|Kernel panic|blocked for more than|detected stall' "$1" || true
}
