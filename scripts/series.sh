#!/usr/bin/env bash
# series.sh: `make series`. The layer and the driver as a patch series for Linux 7.3.4, written
# from the files the out-of-tree module builds (one copy of every line), into build/series/:
# a cover letter and one patch per step below, `git format-patch` style, checked to apply with
# `git am` to the pristine source.
# series.sh tree DIR [N]: writes into DIR the files the first N steps (default: all) leave in a
# kernel tree, each whole (build-kernel.sh syncs them into the in-tree kernel's source; the
# per-patch build check, series-check.sh, builds each N).
#
# A step's files are made from the module's by the same few rewrites, for where they land:
# - the layer (vma_ops.rs, vma_ops/, mm_view.rs, chardev.rs) goes into the kernel crate: its
#   `kernel::` paths become `crate::`, `crate::vma_ops` becomes `crate::mm::vma_ops` (and so on),
#   `pub(crate)` becomes `pub`, its KUnit suites `rust_vmdev_*` become `rust_kernel_mm_*` (the
#   module keeps its own), its `#[expect(dead_code)]`s go (public API is never dead), the
#   `extern "C"` blocks that declare helpers/*.c go and their calls become `bindings::`, and
#   the cfg that leaves out the ways around 7.3.4's PUD bugs,
#   which only a build for a kernel with kernel-patches/ sets (Kbuild), becomes the
#   architecture's alone: the series is for 7.3.4 as released;
# - helpers/vma_ops.c and helpers/mm_view.c become rust/helpers/ files: `vmdev_helper_` becomes
#   `__rust_helper ... rust_helper_`, without the prototypes the module's -Wmissing-prototypes
#   wants;
# - the driver (the other top-level files) becomes samples/rust/rust_vmdev/, naming the layer
#   by its in-tree path;
# then rustfmt with the kernel's settings. series/ holds what is the series' own: the messages,
# the cover letter, the sample's Makefile and Kconfig entry, and the change to upstream's
# rust_misc_device sample that the miscdevice step makes (rust_misc_device.patch).
set -euo pipefail
source "$(dirname "$0")/common.sh"

# `make series` on a fresh clone: the kernel source and the tools first (`tree` is called by
# build-kernel.sh, after them).
[ "${1:-}" = tree ] || "$VMDEV_ROOT/scripts/install-deps.sh"
pristine=$(echo "$VMDEV_CACHE"/src/linux-source-*)
[ -f "$pristine/Makefile" ] || die "no kernel source in $VMDEV_CACHE/src (run scripts/install-deps.sh)"
S=$VMDEV_ROOT/series

# The steps, in the order of the series; series/NAME.txt is each one's commit message.
steps=(mm_view vma_ops miscdevice sample)

# edit FILE: makes DIR/FILE, the tree's file, from the pristine source the first time.
edit() {
  [ -f "$dir/$1" ] || { mkdir -p "$(dirname "$dir/$1")" && cp "$pristine/$1" "$dir/$1"; }
}

# layer SRC DEST: the module's layer file SRC as the kernel crate's DEST.
layer() {
  mkdir -p "$(dirname "$dir/$2")"
  perl -0777 -pe '
    # The extern blocks of the helpers (with their attributes and the comment above them) go;
    # bindgen declares the rust/helpers/ functions in `bindings`.
    s{(^//[^\n]*\n)*(^#\[cfg_attr\((?:[^\[\]]|\[[^\]]*\])*?\)\]\n)?(^\s*#\[expect\([^\]]*\]\n)?^extern "C" \{\n.*?^\}\n\n?}{}gms;
    s{\bvmdev_helper_(\w+)\(}{bindings::$1(}g;
    s{all\(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not\(vmdev_core_fixed\)\)}{CONFIG_ARCH_SUPPORTS_PUD_PFNMAP}g;
    s{\bpub\(crate\)}{pub}g;
    s{kunit_tests\(rust_vmdev_(\w+)\)}{kunit_tests(rust_kernel_mm_$1)}g;
    # An item nothing in the module reads is dead there, where the whole layer is private to
    # one driver; in the kernel crate it is public API, never dead, and the `#[expect]` would
    # go unfulfilled.
    s{^[ \t]*#\[expect\(dead_code, reason = "[^"\n]*"\)\]\n}{}gm;
    s{crate::(vma_ops|mm_view)\b}{crate::mm::$1}g;
    s{crate::chardev\b}{crate::miscdevice}g;
  ' "$VMDEV_ROOT/$1" |
    # `kernel::` is `crate::` inside the crate, but in a doctest, which is a crate of its own, and
    # in a doc link's text, which names the item as drivers do (the crate is `kernel` to itself
    # too). The `ffi` crate, which a module reaches as `kernel::ffi`, the kernel crate names as is.
    perl -pe '$code = !$code if m{^\s*//[/!]\s*```};
      unless ($code) { s/\bkernel::ffi::/ffi::/g; s/(?<!\[`)\bkernel::/crate::/g }' >"$dir/$2"
}

# helpers SRC DEST: the module's C helpers SRC as rust/helpers/DEST, included by helpers.c.
helpers() {
  mkdir -p "$dir/rust/helpers"
  perl -0777 -pe '
    s{^[a-z][^\n(]*\bvmdev_helper_\w+\([^)]*\);\n}{}gm;
    s{\n\n+}{\n\n}g;
    s{^([a-z][^\n(]*?)\bvmdev_helper_(\w+\()}{__rust_helper $1rust_helper_$2}gm;
  ' "$VMDEV_ROOT/$1" >"$dir/rust/helpers/$2"
  edit rust/helpers/helpers.c
  # In the list's order: before the first include that sorts after it.
  awk -v inc="#include \"$2\"" '
    !done && /^#include "/ && $0 > inc { print inc; done = 1 }
    { print } END { if (!done) print inc }' "$dir/rust/helpers/helpers.c" >"$dir/helpers.c.new"
  mv "$dir/helpers.c.new" "$dir/rust/helpers/helpers.c"
  maintained "rust/helpers/$2"
}

# maintained FILE: FILE among the files of MAINTAINERS' "MEMORY MANAGEMENT - RUST", in order.
maintained() {
  edit MAINTAINERS
  awk -v f="F:	$1" '
    /^MEMORY MANAGEMENT - RUST$/ { in_entry = 1 }
    in_entry && !done && (/^$/ || (/^F:/ && $0 > f)) { print f; done = 1 }
    /^$/ { in_entry = 0 }
    { print }' "$dir/MAINTAINERS" >"$dir/MAINTAINERS.new"
  mv "$dir/MAINTAINERS.new" "$dir/MAINTAINERS"
}

# mm_mod NAME: `pub mod NAME;` in rust/kernel/mm.rs, after upstream's `pub mod virt;`.
mm_mod() {
  edit rust/kernel/mm.rs
  sed -i "/^pub mod virt;\$/a pub mod $1;" "$dir/rust/kernel/mm.rs"
}

step_mm_view() {
  layer mm_view.rs rust/kernel/mm/mm_view.rs
  helpers helpers/mm_view.c mm_view.c
  mm_mod mm_view
}

step_vma_ops() {
  local f
  layer vma_ops.rs rust/kernel/mm/vma_ops.rs
  for f in "$VMDEV_ROOT"/vma_ops/*.rs; do
    layer "vma_ops/${f##*/}" "rust/kernel/mm/vma_ops/${f##*/}"
  done
  helpers helpers/vma_ops.c vma_ops.c
  mm_mod vma_ops
}

step_miscdevice() {
  edit rust/kernel/miscdevice.rs
  layer chardev.rs rust/kernel/miscdevice.rs
  # The API's one in-tree user, changed as the commit message says.
  edit samples/rust/rust_misc_device.rs
  patch -s -d "$dir" -p1 <"$S/rust_misc_device.patch"
}

step_sample() {
  local d=samples/rust/rust_vmdev f
  mkdir -p "$dir/$d/helpers" "$dir/$d/include/uapi"
  for f in "$VMDEV_ROOT"/*.rs; do
    case ${f##*/} in vma_ops.rs | mm_view.rs | chardev.rs) continue ;; esac
    sed -E 's/\<crate::(vma_ops|mm_view)\>/kernel::mm::\1/g; s/\<crate::chardev\>/kernel::miscdevice/g
            /^mod (chardev|mm_view|vma_ops);$/d
            s/^use (vma_ops|mm_view)::/use kernel::mm::\1::/; s/^use chardev::/use kernel::miscdevice::/' \
      "$f" >"$dir/$d/${f##*/}"
  done
  cp "$VMDEV_ROOT"/helpers/vmdev.[ch] "$dir/$d/helpers/"
  cp "$VMDEV_ROOT"/include/uapi/*.h "$dir/$d/include/uapi/"
  cp "$S/sample.Makefile" "$dir/$d/Makefile"
  maintained "$d/"
  edit samples/rust/Makefile
  edit samples/rust/Kconfig
  # shellcheck disable=SC2016 # $(...) is make's
  sed -i '/^obj-\$(CONFIG_SAMPLE_RUST_MISC_DEVICE)/a obj-$(CONFIG_SAMPLE_RUST_VMDEV)\t\t+= rust_vmdev/' \
    "$dir/samples/rust/Makefile"
  sed -i "/^config SAMPLE_RUST_PRINT\$/{
            e cat $S/sample.Kconfig
          }" "$dir/samples/rust/Kconfig"
}

# tree DIR N: runs the first N steps into DIR, then formats the Rust files as the kernel does.
tree() {
  local n=$2 i f
  dir=$1
  for ((i = 0; i < n; i++)); do "step_${steps[i]}"; done
  # (From stdin: rustfmt would follow a file's `mod`s into files a partial tree lacks.)
  find "$dir" -name '*.rs' | while read -r f; do
    rustfmt --edition 2021 --config-path "$pristine/.rustfmt.toml" <"$f" >"$f.fmt" && mv "$f.fmt" "$f"
  done
}

case ${1:-} in
  tree)
    [ $# -ge 2 ] || die "usage: series.sh tree DIR [N]"
    tree "$2" "${3:-${#steps[@]}}"
    exit 0 ;;
  "") ;;
  *) die "usage: series.sh | series.sh tree DIR [N]" ;;
esac

# `make series`: a git repository of the pristine files the series touches, one commit per step,
# then format-patch. Dates and names are fixed, so the same sources give the same patches.
out=$VMDEV_ROOT/build/series
rm -rf "$out"
mkdir -p "$out/patches"
work=$out/git
export GIT_AUTHOR_NAME="rust_vmdev developers" GIT_AUTHOR_EMAIL="rust-vmdev@invalid"
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
export GIT_AUTHOR_DATE="2026-12-07T00:00:00Z" GIT_COMMITTER_DATE="2026-12-07T00:00:00Z"
full=$out/tree
tree "$full" "${#steps[@]}"
# The pristine files of everything the series adds or changes (what it adds is absent there).
mapfile -t files < <(cd "$full" && find . -type f | sed 's|^\./||' | sort)
base() {
  local f
  git init -q -b series "$1"
  for f in "${files[@]}"; do
    [ ! -f "$pristine/$f" ] || { mkdir -p "$(dirname "$1/$f")" && cp "$pristine/$f" "$1/$f"; }
  done
  git -C "$1" add -A && git -C "$1" commit -q -m "Linux 7.3.4"
}
base "$work"
for ((i = 1; i <= ${#steps[@]}; i++)); do
  step=$(mktemp -d)
  tree "$step" "$i"
  (cd "$step" && find . -type f) | while read -r f; do
    mkdir -p "$(dirname "$work/$f")" && cp "$step/$f" "$work/$f"
  done
  rm -rf "$step"
  git -C "$work" add -A
  git -C "$work" commit -q -s -F "$S/${steps[i - 1]}.txt"
done
git -C "$work" config branch.series.description "$(cat "$S/cover-letter.txt")"
git -C "$work" format-patch -q --cover-letter --cover-from-description=subject \
  -o "$out/patches" HEAD~${#steps[@]}
# Proof that it applies: `git am` onto the pristine files again gives the tree the steps made.
check=$out/am
base "$check"
mapfile -t patches < <(find "$out/patches" -name '0*.patch' ! -name '0000-cover-letter.patch' | sort)
git -C "$check" am -q "${patches[@]}"
diff -r --exclude=.git "$full" "$check" >/dev/null || die "series: git am of build/series/patches does not give the tree the steps make"
rm -rf "$check" "$full"
say "series: $(find "$out/patches" -name '*.patch' | wc -l) files in build/series/patches (a cover letter and ${#steps[@]} patches), applying with git am to Linux 7.3.4:"
git -C "$work" diff --stat HEAD~${#steps[@]} | tail -n 1 >&2
