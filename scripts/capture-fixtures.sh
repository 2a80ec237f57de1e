#!/usr/bin/env bash
# Captures real /proc/self/maps and smaps text of a process that maps the devices, and the
# picture| lines of the demo's run, from the test VM, as fixtures for the host-side tests of the
# parsers and of the picture (userspace/tests/fixtures/).
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/run-vm.sh" fixtures
out=$VMDEV_ROOT/userspace/tests/fixtures
mkdir -p "$out"
for name in maps smaps picture; do
  # The picture's lines keep their prefix: vmdev::picture::parse_log reads them as a log.
  if [ $name = picture ]; then keep='&'; else keep=; fi
  sed -n "s/^$name|/$keep/p" "$VMDEV_ROOT/build/vm-fixtures.log" | tr -d '\r' >"$out/$name.txt"
  say "fixtures: $out/$name.txt, $(wc -l <"$out/$name.txt") lines"
done
