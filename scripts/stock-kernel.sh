#!/usr/bin/env bash
# Builds rust-vmdev.ko for Debian's own 7.3 cloud kernel, with Debian's own toolchain.
#
# Debian's headers carry no Rust metadata, so the Rust part of the same Debian source is rebuilt
# with the same config, rustc (1.85.1), bindgen (0.71.1) and gcc-14 that built the stock image,
# in a trixie root made by debootstrap (trixie's toolchain cannot run on this bookworm host).
# The kernel crate then mangles exactly as the stock Module.symvers expects; the script checks
# that before building the module. Cached under $VMDEV_CACHE/stock; prints, on stdout, the
# stock vmlinuz and the module built for it.
set -euo pipefail
source "$(dirname "$0")/common.sh"

release=7.3.4+deb13-cloud-amd64
# The stock image exports the kernel crate's symbols under this crate hash (Module.symvers).
stock_crate=Csb5MLIFMWygY
dir=$VMDEV_CACHE/stock
root=$dir/root
src=/usr/src/linux-source-7.3
# Runs a command in the trixie root, with /proc mounted in a private mount namespace (apt and
# objtool need it; the mount disappears with the namespace).
in_root() {
  # shellcheck disable=SC2016 # expanded by sh -c, not here
  unshare --mount --propagation private \
    sh -c 'r=$1; shift; mount -t proc proc "$r/proc" && exec chroot "$r" "$@"' _ "$root" "$@"
}

mkdir -p "$dir"
if [ ! -f "$root/.vmdev-ready" ]; then
  mirror=$(debian_mirror)
  rm -rf "$root"
  timed "stock: debootstrap trixie into $root" debootstrap --variant=minbase trixie "$root" "$mirror" >"$dir/debootstrap.log"
  echo "deb $mirror trixie-backports main" >"$root/etc/apt/sources.list.d/backports.list"
  timed "stock: Debian's kernel toolchain (rustc, rust-src, bindgen, gcc-14) and linux-source-7.3" \
    in_root sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends rustc rust-src bindgen gcc-14 make flex bison bc libelf-dev libssl-dev \
      libclang-dev clang dwarves python3 kmod xz-utils linux-source-7.3 linux-config-7.3 \
      linux-headers-$release >/dev/null && cd /tmp && apt-get download -qq linux-binary-$release"
  touch "$root/.vmdev-ready"
else
  say "stock: trixie root cached in $root ($(in_root rustc --version))"
fi

if [ ! -f "$root$src/.vmdev-prepared" ]; then
  kmake="make -s CC=x86_64-linux-gnu-gcc-14 KERNELRELEASE=$release -j$(($(nproc) + 1))"
  timed "stock: Debian's config, modules_prepare and rust/ (the kernel crate's metadata)" \
    in_root sh -c "cd /usr/src && rm -rf linux-source-7.3 && tar -xaf linux-source-7.3.tar.xz && cd $src &&
      xz -dc /usr/src/linux-config-7.3/config.amd64_none_cloud-amd64.xz > .config &&
      $kmake olddefconfig modules_prepare && $kmake rust/ 2>&1 | grep -v 'Failed to run rustfmt' || true;
      cp /usr/src/linux-headers-$release/Module.symvers ."
  touch "$root$src/.vmdev-prepared"
else
  say "stock: kernel crate for $release cached"
fi
# Without matching names every kernel:: symbol would be unresolved on the stock image.
grep -q "_RNvNt${stock_crate}_6kernel5print11call_printk" <(nm "$root$src/rust/kernel.o") ||
  die "the rebuilt kernel crate does not mangle as the stock image ($stock_crate): the toolchain differs"
grep -q "_RNvNt${stock_crate}_6kernel5print11call_printk" "$root$src/Module.symvers" ||
  die "the stock Module.symvers does not export the kernel crate as $stock_crate"
say "stock: kernel crate symbols match the stock image ($stock_crate)"

mkdir -p "$root/build/vmdev" "$VMDEV_ROOT/build/stock"
copy_module_sources "$root/build/vmdev"
timed "stock: rust-vmdev.ko with rustc 1.85.1 and gcc-14" in_root \
  make -s -C "$src" M=/build/vmdev CC=x86_64-linux-gnu-gcc-14 KERNELRELEASE="$release" modules >&2
cp "$root/build/vmdev/rust-vmdev.ko" "$VMDEV_ROOT/build/stock/"
[ -f "$VMDEV_ROOT/build/stock/vmlinuz" ] ||
  dpkg-deb --fsys-tarfile "$root"/tmp/linux-binary-"$release"_*.deb |
    tar -xO ./usr/lib/modules/"$release"/vmlinuz >"$VMDEV_ROOT/build/stock/vmlinuz"
echo "$VMDEV_ROOT/build/stock/vmlinuz $VMDEV_ROOT/build/stock/rust-vmdev.ko"
