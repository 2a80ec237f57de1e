#!/usr/bin/env bash
# compile-fail.sh: the misuse of the abstraction that must not compile (tests/compile-fail/).
# Each snippet is built as the driver side of a small module, with the real chardev.rs,
# memory.rs and vma_ops.rs (with vma_ops/), against the test VM's kernel (make's KDIR, as the module is); the
# build must fail with the message on the snippet's first line (`// expect: ...`), or, for
# `// expect: (builds)` (the control), succeed. Each snippet has a `used()`, called at module
# init, that names the functions a driver would reach from its tables. One line per snippet, then
# `N passed, N failed, 0 skipped`.
set -euo pipefail
source "$(dirname "$0")/common.sh"

kdir=$(kernel_dir)
out=$VMDEV_ROOT/build/compile-fail
pass=0 fail=0

# The crate root of every snippet's module: the abstraction files, the snippet, and the `Dev`
# the PFN snippets map (a driver's device holding its memory).
root() {
  cat <<'EOF'
// SPDX-License-Identifier: GPL-2.0
//! Written by scripts/compile-fail.sh: the abstraction files and one snippet of driver code.
// The abstraction's items a snippet does not use, and its `#[expect]`s for the driver's use.
#![allow(dead_code, unused_imports, unfulfilled_lint_expectations)]

use kernel::prelude::*;

mod chardev;
mod memory;
mod snippet;
mod vma_ops;

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

impl kernel::Module for CompileFail {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // What a driver reaches through its operations tables: rustc instantiates (and checks)
        // only generic code that something uses.
        snippet::used();
        Ok(CompileFail)
    }
}
EOF
}

for snippet in "$VMDEV_ROOT"/tests/compile-fail/*.rs; do
  name=$(basename "$snippet" .rs)
  expect=$(sed -n '1s|^// expect: ||p' "$snippet")
  [ -n "$expect" ] || die "$snippet: the first line must be '// expect: MESSAGE'"
  dir=$out/$name
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -rp "$VMDEV_ROOT"/{chardev,memory,vma_ops}.rs "$VMDEV_ROOT"/{vma_ops,vmdev_helpers.c,include} "$dir/"
  cp -p "$snippet" "$dir/snippet.rs"
  root >"$dir/cf_root.rs"
  # As the module's Kbuild: warnings are errors (an unused `#[must_use]` value among them).
  # shellcheck disable=SC2016 # $(src) is for make
  printf '%s\n' 'obj-m := vmdev-cf.o' 'vmdev-cf-y := cf_root.o vmdev_helpers.o' \
    'ccflags-y += -I$(src)/include/uapi' 'rustflags-y += -Dwarnings' >"$dir/Kbuild"
  # shellcheck disable=SC2046 # kmake_flags is a list of words
  if make -s -C "$kdir" M="$dir" $(kmake_flags) modules >"$dir/build.log" 2>&1; then built=true; else built=false; fi
  case $expect,$built in
    "(builds)",true) verdict=ok why="builds" ;;
    "(builds)",false) verdict="not ok" why="the control does not build: see ${dir#"$VMDEV_ROOT"/}/build.log" ;;
    *,true) verdict="not ok" why="it builds: the misuse is not refused" ;;
    *,false)
      if grep -qF -- "$expect" "$dir/build.log"; then
        verdict=ok why="refused: $expect"
      else
        verdict="not ok" why="refused, but not with '$expect': see ${dir#"$VMDEV_ROOT"/}/build.log"
      fi ;;
  esac
  echo "$verdict compile_fail.$name: $why"
  if [ "$verdict" = ok ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
