#!/usr/bin/env bash
# Builds the userspace programs as static binaries for VMDEV_ARCH (common.sh's RUST_TARGET), so
# the test VM's initramfs needs no libc.
set -euo pipefail
source "$(dirname "$0")/common.sh"

cd "$VMDEV_ROOT/userspace"
if [ -n "$CROSS_CC" ]; then
  # rustup cannot download a target here. Debian's rustc-web 1.96 has the other backends and
  # rust-web-src has the standard library's source: cargo-web (cargo 1.96, the same release)
  # builds std for the target with the programs (-Zbuild-std; RUSTC_BOOTSTRAP=1 allows the
  # unstable flag on a stable compiler), and CROSS_CC links them against the target's static glibc
  # (for arm64 libc6-dev-arm64-cross: scripts/install-deps-arm64.sh). A target directory of its
  # own: the host build uses rustup's rustc, and the two would rebuild each other's build scripts.
  linker_var=CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$RUST_TARGET")_LINKER
  timed "userspace: static release build for $RUST_TARGET (-Zbuild-std)" env RUSTC=/usr/bin/rustc \
    RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$USERSPACE_TARGET_DIR" \
    "$linker_var=$CROSS_CC" RUSTFLAGS="-C target-feature=+crt-static" \
    /usr/bin/cargo build --quiet --release --locked --target "$RUST_TARGET" -Zbuild-std=std,panic_unwind
else
  # RUSTC may name the kernel's rustc (it does in make's environment); userspace uses rustup's.
  timed "userspace: static release build" env -u RUSTC RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --quiet --release --locked --target "$RUST_TARGET"
fi
# The reproducer of kernel-patches/ (kselftest_harness.h from the kernel's source), beside the
# programs, where the kernel maps PUD entries of PFNs (x86_64, which clang builds for natively).
if [ -n "$PUD_PFNMAP" ]; then
  clang -static -O2 -Wall -Werror -I "$(echo "$VMDEV_CACHE"/src/linux-source-*)/tools/testing/selftests" \
    -o "$USERSPACE_BINS/pud_pfnmap" "$VMDEV_ROOT/kernel-patches/selftests/pud_pfnmap.c"
fi
