#!/usr/bin/env bash
# Captures real /proc/self/maps and smaps text of a process that maps both devices, from the
# test VM, as fixtures for the parsers' host-side tests (userspace/tests/fixtures/).
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/run-vm.sh" fixtures
out=$VMDEV_ROOT/userspace/tests/fixtures
mkdir -p "$out"
for name in maps smaps; do
  sed -n "s/^$name|//p" "$VMDEV_ROOT/build/vm-fixtures.log" | tr -d '\r' >"$out/$name.txt"
  say "fixtures: $out/$name.txt, $(wc -l <"$out/$name.txt") lines"
done
