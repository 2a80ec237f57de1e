#!/usr/bin/env bash
# series-check.sh: make check's checks of the series (`make series`, scripts/series.sh), one test
# each, KTAP-style lines and then `N passed, N failed, N skipped`:
# - it applies with `git am` to the pristine 7.3.4 files (series.sh proves it as it writes it);
# - scripts/checkpatch.pl --strict finds nothing in each patch;
# - each patch builds: the in-tree kernel's source at each patch in turn, its kernel crate and
#   samples built through clippy, a warning in the series' files a failure (build-kernel.sh);
#   the last patch's is the debug kernel's own build, which the suite boots;
# - `make rustdoc` documents the kernel crate without a warning.
# The in-tree kernel is left built at the whole series.
set -euo pipefail
source "$(dirname "$0")/common.sh"

log=$VMDEV_ROOT/build/series-check.log
mkdir -p "$VMDEV_ROOT/build"
n=0 pass=0 fail=0
result() { # result OK NAME
  n=$((n + 1))
  if [ "$1" = 0 ]; then pass=$((pass + 1)); echo "ok $n $2"; else fail=$((fail + 1)); echo "not ok $n $2"; fi
}

rc=0
"$VMDEV_ROOT/scripts/series.sh" >"$log" 2>&1 || rc=1
result $rc "series: make series, and git am of it onto Linux 7.3.4"
[ $rc = 0 ] || { cat "$log"; echo "$pass passed, $fail failed, 0 skipped"; exit 1; }
mapfile -t patches < <(find "$VMDEV_ROOT/build/series/patches" -name '0*.patch' ! -name '0000-*' | sort)

# Each patch but the last builds at its place in the series; then the whole series, the kernel
# every other step of make check uses.
for ((i = 1; i <= ${#patches[@]}; i++)); do
  rc=0
  if [ "$i" -lt ${#patches[@]} ]; then
    VMDEV_SERIES_STEPS=$i "$VMDEV_ROOT/scripts/build-kernel.sh" >>"$log" 2>&1 || rc=1
  else
    kdir=$("$VMDEV_ROOT/scripts/build-kernel.sh" 2>>"$log") || rc=1
  fi
  result $rc "series: patch $i builds (kernel crate and samples, clippy): $(basename "${patches[i - 1]}")"
  [ $rc = 0 ] || grep -E -A8 '^(warning|error)|error:|warnings' "$log" | tail -40
done
src=${kdir:?}.src

# No error, no warning; and no check but the one a UAPI header cannot follow: BIT() is the
# kernel's own, which a header user space includes has no way to (its flags are `(1U << n)`, as
# many of include/uapi/'s are).
for p in "${patches[@]}"; do
  out=$( (cd "$src" && perl scripts/checkpatch.pl --strict --color=never "$p") 2>&1) || true
  total=$(grep '^total:' <<<"$out" || echo "total: checkpatch did not finish")
  others=$(grep --no-group-separator -A1 -E '^(ERROR|WARNING|CHECK):' <<<"$out" | paste -d' ' - - |
    grep -vE '^CHECK: Prefer using the BIT macro .*FILE: [^ ]*/include/uapi/' || true)
  rc=0
  if [ -n "$others" ] || ! grep -q '^total: 0 errors, 0 warnings,' <<<"$out"; then
    rc=1
    echo "$out" | head -60
  fi
  echo "$out" >>"$log"
  result $rc "series: checkpatch --strict $(basename "$p"): ${total#total: }"
done

# shellcheck disable=SC2046 # kmake_flags is a list of words
out=$(flock "$kdir.lock" make -C "$src" O="$kdir" $(kmake_flags) -s rustdoc 2>&1) && rc=0 || rc=1
echo "$out" >>"$log"
warnings=$(grep '^warning' <<<"$out" | grep -cv '^warning: [0-9]* warnings* emitted' || true)
[ "$warnings" = 0 ] || { rc=1; grep -A6 '^warning' <<<"$out" | head -60; }
result $rc "series: make rustdoc: $warnings warnings"
echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" = 0 ]
