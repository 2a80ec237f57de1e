#!/usr/bin/env bash
# Builds the userspace programs as static binaries, so the test VM's initramfs needs no libc.
set -euo pipefail
source "$(dirname "$0")/common.sh"

cd "$VMDEV_ROOT/userspace"
if [ "$VMDEV_ARCH" = arm64 ]; then
  # rustup cannot download a target here. Debian's rustc-web 1.96 has the aarch64 backend and
  # rust-web-src has the standard library's source: cargo-web (cargo 1.96, the same release)
  # builds std for aarch64 with the programs (-Zbuild-std; RUSTC_BOOTSTRAP=1 allows the unstable
  # flag on a stable compiler), and aarch64-linux-gnu-gcc links them against the static glibc of
  # libc6-dev-arm64-cross (scripts/install-deps-arm64.sh). A target directory of its own: the
  # host build above uses rustup's rustc, and the two would rebuild each other's build scripts.
  timed "userspace: static release build for aarch64 (-Zbuild-std)" env RUSTC=/usr/bin/rustc \
    RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$VMDEV_ROOT/userspace/target/arm64" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    RUSTFLAGS="-C target-feature=+crt-static" \
    /usr/bin/cargo build --quiet --release --locked --target "$RUST_TARGET" -Zbuild-std=std,panic_unwind
  exit 0
fi
# RUSTC may name the kernel's rustc (it does in make's environment); userspace uses rustup's.
timed "userspace: static release build" env -u RUSTC RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --release --locked --target x86_64-unknown-linux-gnu
# The reproducer of kernel-patches/ (kselftest_harness.h from the kernel's source), beside the
# programs: x86_64 only, where 7.3 maps PUD entries of PFNs.
clang -static -O2 -Wall -Werror -I "$(echo "$VMDEV_CACHE"/src/linux-source-*)/tools/testing/selftests" \
  -o "$USERSPACE_BINS/pud_pfnmap" "$VMDEV_ROOT/kernel-patches/selftests/pud_pfnmap.c"
