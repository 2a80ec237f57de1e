# Sourced by the other scripts: one place for paths, the toolchain, the facts of each
# architecture, the test VM's boot reservations, and the helpers the scripts share.
# shellcheck shell=bash

VMDEV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VMDEV_CACHE=${VMDEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust-vmdev}
# The kernel's Rust needs a rustc with matching core/alloc sources: Debian's rustc-web
# ships both, the rustup toolchain on PATH has no rust-src.
RUSTC=${RUSTC:-/usr/bin/rustc}
# (Not the rustup rustdoc a PATH may find first: the doctests are built by the same toolchain.)
RUSTDOC=${RUSTDOC:-/usr/bin/rustdoc}
BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
# KASAN together with Rust needs clang, and CONFIG_RUST_INLINE_HELPERS a clang on rustc's own
# LLVM (22 for rustc-web 1.96); LLVM=1 picks the unversioned names from this dir, and bindgen
# finds this LLVM's libclang through its llvm-config.
export PATH=/usr/lib/llvm-22/bin:$PATH
# VMDEV_ARCH: what the kernel, the modules and the userspace programs are built for and the VM
# emulates: x86_64 (the default) or arm64 (make check-arm64). Exported, so every script this one
# starts agrees. The table below is every fact that differs between the two:
#   KARCH_FLAGS     go to every make in the kernel tree (clang cross-builds with LLVM=1 ARCH=...)
#   KIMAGE          the kernel image's make target, KIMAGE_PATH where the build tree has it
#   PAGE_SIZES      the page sizes make check-arm64 builds a kernel for (scripts/arm64-PAGE.config
#                   for each but 4k); x86_64 has only 4 KiB
#   RUST_TARGET     the userspace programs' target; CROSS_CC, when set, links them for a target
#                   that is not the host's (std built with them: build-userspace.sh)
#   USERSPACE_TARGET_DIR  cargo's target directory for them (USERSPACE_BINS: the programs in it)
#   BUSYBOX         the static busybox for the initramfs
#   PUD_PFNMAP      y where the kernel maps PUD entries of PFNs (7.3: x86_64 only): the
#                   reproducer of kernel-patches/ is built and run there
#   UNAME_M         the guest's `uname -m`, and the host's where KVM can run it
#   QEMU_BIN, QEMU_MACHINE  the emulator and its machine options
#   CONSOLE         the kernel's console (the first serial port); TERMINAL the second serial port,
#                   the demo's terminal (make run), empty where the machine has one UART
#   RESERVE         how the boot reservations below are made: memmap (memmap= words on the kernel
#                   command line) or dtb (/reserved-memory nodes in the device tree, arm64-dtb.sh)
VMDEV_ARCH=${VMDEV_ARCH:-x86_64}
export VMDEV_ARCH
# shellcheck disable=SC2034 # used by the scripts that source this file
case $VMDEV_ARCH in
  x86_64)
    KARCH_FLAGS=() KIMAGE=bzImage KIMAGE_PATH=arch/x86/boot/bzImage PAGE_SIZES=(4k)
    RUST_TARGET=x86_64-unknown-linux-gnu CROSS_CC=''
    USERSPACE_TARGET_DIR=$VMDEV_ROOT/userspace/target BUSYBOX=/bin/busybox
    PUD_PFNMAP=y UNAME_M=x86_64
    QEMU_BIN=qemu-system-x86_64 QEMU_MACHINE=() CONSOLE=ttyS0 TERMINAL=ttyS1 RESERVE=memmap ;;
  arm64)
    KARCH_FLAGS=(ARCH=arm64) KIMAGE=Image KIMAGE_PATH=arch/arm64/boot/Image PAGE_SIZES=(4k 16k)
    RUST_TARGET=aarch64-unknown-linux-gnu CROSS_CC=aarch64-linux-gnu-gcc
    USERSPACE_TARGET_DIR=$VMDEV_ROOT/userspace/target/arm64 BUSYBOX=$VMDEV_CACHE/arm64/busybox
    PUD_PFNMAP='' UNAME_M=aarch64
    QEMU_BIN=qemu-system-aarch64 QEMU_MACHINE=(-M virt) CONSOLE=ttyAMA0 TERMINAL='' RESERVE=dtb ;;
  *) printf 'error: VMDEV_ARCH=%s is not x86_64 or arm64\n' "$VMDEV_ARCH" >&2; exit 1 ;;
esac
# shellcheck disable=SC2034
USERSPACE_BINS=$USERSPACE_TARGET_DIR/$RUST_TARGET/release

# The test VM's RAM; the reservations' bases below are chosen for it.
# shellcheck disable=SC2034 # run-vm.sh's
VM_MEMORY=3G
# The ranges of the test VM's RAM reserved at boot, by name; each is aligned to its size. MODES
# names the run-vm.sh modes that reserve it (all: every mode).
#   remap  the module's boot-reserved mode (phys_base) and the tests of its checks
#   huge   huge PMD mappings (/dev/vmdev-huge; two PMD spans with 16 KiB pages), and the peer that
#          maps reserved memory in make bench (/dev/mem)
#   pud    a huge PUD mapping (1 GiB is one PUD span with 4 KiB pages, where PUD_PFNMAP)
#   twin   make bench: the C twin's range, as each driver claims its own (x86_64 only, where
#          make bench runs)
# x86_64: RAM from 0 to 3 GiB; 4 MiB at 1 GiB, 64 MiB at 1152 MiB, 1 GiB at 2 GiB, with System
# RAM between them (a range reaching past one must not reach into the next); make bench's twin
# range is the 64 MiB right after huge. arm64: the virt machine puts RAM at 1 GiB, where x86
# reserves its first range, and QEMU loads the kernel, the initramfs and the device tree at its
# bottom, so the ranges are in the top half of its 3 GiB, with System RAM between them as on x86.
#   NAME   SIZE        x86_64 BASE  arm64 BASE  MODES
VM_RESERVED='
    remap  0x400000    0x40000000   0xb0000000  all
    huge   0x4000000   0x48000000   0xb8000000  all
    pud    0x40000000  0x80000000   0xc0000000  all
    twin   0x4000000   0x4c000000   -           bench
'

# reserved MODE: the ranges reserved in MODE on VMDEV_ARCH, one `NAME:BASE,SIZE` a line (hex), the
# form the guest is told them in (vmdev_reserved=NAME:BASE,SIZE words: run-vm.sh).
reserved() {
  local column
  case $VMDEV_ARCH in x86_64) column=3 ;; arm64) column=4 ;; esac
  awk -v c="$column" -v mode="$1" \
    'NF == 5 && $c != "-" && ($5 == "all" || $5 == mode) { print $1 ":" $c "," $2 }' <<<"$VM_RESERVED"
}

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

# debian_suite: this machine's Debian release (bookworm); debian_mirror: the mirror its own apt
# sources use for it.
debian_suite() { (. /etc/os-release && echo "$VERSION_CODENAME"); }
debian_mirror() {
  local suite mirror
  suite=$(debian_suite)
  # shellcheck disable=SC2016 # apt's own $(FIELD) syntax
  mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk -v s="$suite" '$2 == s { print $1; exit }')
  [ -n "$mirror" ] || die "no apt source for suite '$suite' to take the Debian mirror from"
  echo "$mirror"
}

# private_apt DIR ARCH SUITE APT-GET-ARG...: apt-get on a configuration of its own under DIR: the
# main component of SUITE on debian_mirror, for ARCH alone, its lists and downloads in DIR. The
# host's apt never sees it, so nothing from it can be installed onto this host: it serves
# `update` and `download` of packages that are unpacked by hand.
private_apt() {
  local dir=$1 arch=$2 suite=$3 mirror
  shift 3
  mirror=$(debian_mirror) || return
  mkdir -p "$dir/lists/partial" "$dir/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$dir/sources.list"
  apt-get -o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null" \
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir" -o "APT::Architecture=$arch" \
    -o "APT::Architectures=$arch" -o "APT::Sandbox::User=$(id -un)" "$@"
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
  echo LLVM=1 "${KARCH_FLAGS[@]}" RUSTC="$RUSTC" RUSTDOC="$RUSTDOC" BINDGEN="$BINDGEN" CLIPPY_DRIVER=/usr/bin/clippy-driver
}

# Prints the lines of a guest console log that show a kernel splat (empty when clean).
kernel_splats() {
  grep -E 'BUG:|kernel BUG at|bad p(te|md|ud|4d|gd) |WARNING:|KASAN:|Oops|possible circular locking|panicked at|suspected memory leak|Kernel panic|blocked for more than|detected stall' "$1" || true
}

# copy_module_sources DIR: copies into DIR what kbuild builds rust-vmdev.ko from, for a build
# outside the source tree: Kbuild, the Rust files at the top (the crate root and its modules),
# vma_ops/, the C helpers (helpers/) and include/ (the UAPI header); and into DIR/c_twin what
# it builds vmdev_c.ko from (its Kbuild, *.c and *.h). Never modpost's *.mod.c of an earlier build.
copy_module_sources() {
  local f sources=("$VMDEV_ROOT"/{Kbuild,*.rs,vma_ops,include}) twin_sources=()
  mkdir -p "$1/helpers" && cp -p "$VMDEV_ROOT"/helpers/*.[ch] "$1/helpers/"
  for f in "$VMDEV_ROOT"/c_twin/{Kbuild,*.c,*.h}; do
    [[ $f == *.mod.c ]] || twin_sources+=("$f")
  done
  mkdir -p "$1/c_twin" && cp -rp "${sources[@]}" "$1/" && cp -p "${twin_sources[@]}" "$1/c_twin/"
}

# totals MIN LOG...: the sum of the logs' `N passed, N failed, N skipped` lines (the closing line
# of each suite run) as `PASSED FAILED SKIPPED`. Fewer than MIN such lines in all counts as one
# failure more, and so does each LOG that does not exist.
totals() {
  local min=$1 log logs=() absent=0
  shift
  for log; do
    if [ -f "$log" ]; then logs+=("$log"); else absent=$((absent + 1)); fi
  done
  awk -v min="$min" -v absent="$absent" '
    /^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped/ { p += $1; f += $3; s += $5; n++ }
    END { if (n < min) f++; print p + 0, f + absent, s + 0 }' "${logs[@]}" /dev/null
}

# lap NAME: records the time since the script's start or its last lap as stage NAME; laps says
# them all and the total, the closing lines of make check, check-stock and check-arm64.
LAPS=() LAP_START=$SECONDS
lap() {
  LAPS+=("$1: $(minutes $((SECONDS - LAP_START)))")
  LAP_START=$SECONDS
}
laps() {
  local l
  say "time of each stage:"
  for l in "${LAPS[@]}"; do say "  $l"; done
  say "total time: $(minutes "$SECONDS")"
}
minutes() {
  if (($1 < 60)); then echo "$1 s"; else printf '%d min %02d s\n' $(($1 / 60)) $(($1 % 60)); fi
}

# sync_overlay OVERLAY TREE BASE: TREE becomes BASE's files with OVERLAY's over them. A file of
# OVERLAY is copied where TREE's differs; a file the last sync wrote (TREE/.vmdev-overlay) that
# OVERLAY no longer has becomes BASE's again, or goes. Every write is a new file, never one
# through a hard link to BASE, and has a new time, so make rebuilds what it reaches. Succeeds
# when it changed something.
sync_overlay() {
  local overlay=$1 tree=$2 base=$3 manifest=$2/.vmdev-overlay changed=1 files f
  files=$(cd "$overlay" && find . -type f | sed 's|^\./||' | sort)
  if [ -f "$manifest" ]; then
    while read -r f; do
      grep -qxF "$f" <<<"$files" && continue
      if [ -f "$base/$f" ]; then cp --remove-destination "$base/$f" "$tree/$f"; else rm -f "$tree/$f"; fi
      changed=0
    done <"$manifest"
  fi
  while read -r f; do
    if [ -z "$f" ] || cmp -s "$overlay/$f" "$tree/$f"; then continue; fi
    mkdir -p "$(dirname "$tree/$f")"
    cp --remove-destination "$overlay/$f" "$tree/$f"
    changed=0
  done <<<"$files"
  echo "$files" >"$manifest"
  return $changed
}
