#!/usr/bin/env bash
# Builds the userspace programs as static binaries, so the test VM's initramfs needs no libc.
set -euo pipefail
source "$(dirname "$0")/common.sh"

cd "$VMDEV_ROOT/userspace"
# RUSTC may name the kernel's rustc (it does in make's environment); userspace uses rustup's.
timed "userspace: static release build" env -u RUSTC RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --release --locked --target x86_64-unknown-linux-gnu
