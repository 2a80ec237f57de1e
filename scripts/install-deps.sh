#!/usr/bin/env bash
# Installs what building the module and running the test VM need; does nothing when all is there.
set -euo pipefail
source "$(dirname "$0")/common.sh"

debs=(clang-22 lld-22 llvm-22 libclang-22-dev bc flex bison libelf-dev libssl-dev cpio patch
      qemu-system-x86 busybox-static rustc-web rust-web-src rust-web-clippy make kmod debootstrap shellcheck)
install_debs "Debian packages" "${debs[@]}"

if [ -x "$BINDGEN" ]; then
  say "bindgen: present ($("$BINDGEN" --version))"
else
  timed "cargo install bindgen-cli" cargo install --quiet --locked bindgen-cli@0.73.2
fi

"$VMDEV_ROOT/scripts/fetch-kernel-source.sh"
