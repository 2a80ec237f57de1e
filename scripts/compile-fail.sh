#!/usr/bin/env bash
# compile-fail.sh: the misuse of the abstraction that must not compile (tests/compile-fail/).
# Each snippet is the driver side of a small module, built with the real abstraction (chardev.rs,
# mm_view.rs, vma_ops.rs with vma_ops/) and memory.rs against the test VM's kernel (make's KDIR,
# as the module is); the driver's own files are copied too, but no `mod` names them.
#
# A snippet's first line says what rustc must answer: `// expect: error[CODE]: MESSAGE` (the
# start of the error's first line, code included where rustc gives one), or `// expect: (builds)`
# for the control; an optional second line `// detail: TEXT` names text the error's explanation
# must hold (for errors such as E0308 whose first line says little). A misuse must fail with that error and no other (warnings are errors, as in
# the module's Kbuild). Each misuse has a twin that must build: the same snippet with each line
# that ends in `// twin: CODE` replaced by CODE (`\n` starts a new line; an empty CODE drops the
# line), so the twin differs from the misuse only there. The twins and the control build
# together, as one module. One line per snippet and one for the twins, then
# `N passed, N failed, 0 skipped`.
# --in-tree: the same against the layer in-tree, as `make series` puts it in the debug kernel:
# no copy of the layer in the module, and the snippets and memory.rs name it by its in-tree
# paths (kernel::mm::vma_ops, kernel::mm::mm_view, kernel::miscdevice).
set -euo pipefail
source "$(dirname "$0")/common.sh"

kdir=$(kernel_dir)
out=$VMDEV_ROOT/build/compile-fail
in_tree=false prefix=compile_fail
case ${1:-} in
  "") ;;
  --in-tree) in_tree=true out=$out-in-tree prefix=compile_fail.in_tree ;;
  *) die "usage: compile-fail.sh [--in-tree]" ;;
esac
# The driver's file (memory.rs) or a snippet as the module names the layer.
layer_paths() {
  if $in_tree; then
    sed -E 's/\<crate::(vma_ops|mm_view)\>/kernel::mm::\1/g; s/\<crate::chardev\>/kernel::miscdevice/g' "$1"
  else
    cat "$1"
  fi
}
pass=0 fail=0

# root MODULE...: the crate root of a module made of the abstraction files and the snippet
# modules named, and the `Dev` the PFN snippets map (a driver's device holding its memory).
root() {
  cat <<'END'
// SPDX-License-Identifier: GPL-2.0
//! Written by scripts/compile-fail.sh: the abstraction files and snippets of driver code.
// The abstraction's items a snippet does not use, and its `#[expect]`s for the driver's use.
#![allow(dead_code, unused_imports, unfulfilled_lint_expectations)]

use kernel::prelude::*;

mod memory;
END
  $in_tree || printf 'mod %s;\n' chardev mm_view vma_ops
  cat <<'END'

module! {
    type: CompileFail,
    name: "vmdev_compile_fail",
    authors: ["rust_vmdev"],
    description: "a compile-fail test of rust_vmdev's abstraction",
    license: "GPL",
}

struct CompileFail;

/// What the snippets' PFN-mapped VMAs refer to: the memory, as a driver's device holds it.
pub(crate) struct Dev(memory::PhysBuffer);

impl AsRef<memory::PhysBuffer> for Dev {
    fn as_ref(&self) -> &memory::PhysBuffer {
        &self.0
    }
}
END
  printf 'mod %s;\n' "$@"
  cat <<'END'

impl kernel::Module for CompileFail {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // What a driver reaches through its operations tables: rustc instantiates (and checks)
        // only generic code that something uses.
END
  printf '        %s::used();\n' "$@"
  cat <<'END'
        Ok(CompileFail)
    }
}
END
}

# twin SNIPPET: the snippet with its `// twin:` lines in place.
twin() {
  awk '{
    i = index($0, "// twin:")
    if (!i) { print; next }
    match($0, /^[ \t]*/); indent = substr($0, 1, RLENGTH)
    code = substr($0, i + 8); sub(/^ +/, "", code)
    if (code == "") next
    gsub(/\\n/, "\n" indent, code)
    print indent code
  }' "$1"
}

# build DIR MODULE...: builds the module of the snippets DIR/MODULE.rs into DIR, its output in
# DIR/build.log; succeeds if it builds.
build() {
  local dir=$1
  shift
  copy_module_sources "$dir"
  layer_paths "$VMDEV_ROOT/memory.rs" >"$dir/memory.rs"
  root "$@" >"$dir/cf_root.rs"
  local helpers=helpers/vmdev.o
  $in_tree || helpers="helpers/vma_ops.o helpers/mm_view.o $helpers"
  # shellcheck disable=SC2016 # $(src) is for make
  printf '%s\n' 'obj-m := vmdev-cf.o' "vmdev-cf-y := cf_root.o $helpers" \
    'ccflags-y += -I$(src)/include/uapi' 'rustflags-y += -Dwarnings' >"$dir/Kbuild"
  # shellcheck disable=SC2046 # kmake_flags is a list of words
  make -s -C "$kdir" M="$dir" $(kmake_flags) modules >"$dir/build.log" 2>&1
}

# The errors of a build log: rustc's `error:` and `error[CODE]:` lines, without its summary,
# with the items' paths trimmed to their names (`vma_ops::vm_fault::FaultVma` to `FaultVma`):
# rustc names an item by its name alone only where no other crate of the build has one of that
# name, and the kernel the module builds against has the layer in-tree too.
trimmed() { sed -E 's/\<([a-z_][a-z0-9_]*::)+([A-Za-z_])/\2/g' "$@"; }
errors() {
  grep -E '^error(\[E[0-9]+\])?: ' "$1" | grep -vE '^error: (aborting due to|could not compile)' |
    trimmed || true
}

verdict() { # verdict OK NAME WHY
  if [ "$1" = true ]; then echo "ok $prefix.$2: $3"; pass=$((pass + 1))
  else echo "not ok $prefix.$2: $3"; fail=$((fail + 1)); fi
}

rm -rf "$out"
mkdir -p "$out/twins"
twins=()
for snippet in "$VMDEV_ROOT"/tests/compile-fail/*.rs; do
  name=$(basename "$snippet" .rs)
  expect=$(sed -n '1s|^// expect: ||p' "$snippet")
  detail=$(sed -n '2s|^// detail: ||p' "$snippet")
  [ -n "$expect" ] || die "$snippet: the first line must be '// expect: error...' or '// expect: (builds)'"
  twins+=("$name")
  if [ "$expect" = "(builds)" ]; then
    layer_paths "$snippet" >"$out/twins/$name.rs"
    continue
  fi
  grep -q '// twin:' "$snippet" || die "$snippet: a misuse needs a twin (a line ending in '// twin: CODE')"
  twin "$snippet" >"$out/twins/$name.tmp"
  layer_paths "$out/twins/$name.tmp" >"$out/twins/$name.rs"
  rm "$out/twins/$name.tmp"
  dir=$out/$name
  mkdir -p "$dir"
  layer_paths "$snippet" >"$dir/$name.rs"
  log=${dir#"$VMDEV_ROOT"/}/build.log
  if build "$dir" "$name"; then
    verdict false "$name" "it builds: the misuse is not refused"
    continue
  fi
  found=$(errors "$dir/build.log")
  if [ "$(grep -c . <<<"$found")" != 1 ]; then
    verdict false "$name" "refused with $(grep -c . <<<"$found") errors, not one: see $log"
  elif [[ $found != "$expect"* ]]; then
    verdict false "$name" "refused with '$found', not '$expect': see $log"
  elif [ -n "$detail" ] && ! trimmed "$dir/build.log" | grep -qF -- "$detail"; then
    verdict false "$name" "refused with '$found', but without '$detail': see $log"
  else
    verdict true "$name" "refused: $found"
  fi
done
if build "$out/twins" "${twins[@]}"; then
  verdict true twins "the $((${#twins[@]} - 1)) twins and the control build"
else
  verdict false twins "a twin or the control does not build: see ${out#"$VMDEV_ROOT"/}/twins/build.log"
fi
echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
