#!/usr/bin/env bash
# test-shell.sh: `make shell` without a terminal, as scripts/check.sh runs it. Pipes a few
# commands and `exit` into `run-vm.sh shell` and passes when the guest's shell ran them with the
# module loaded and the VM then powered off cleanly with no splat (run-vm.sh's own checks).
set -euo pipefail
source "$(dirname "$0")/common.sh"

log=$VMDEV_ROOT/build/vm-shell.log
# The guest's shell expands $((6*7)): the echo of the typed line itself cannot pass for MARKER-42.
# shellcheck disable=SC2016
cmds=('vmdev-demo >/dev/null && cat /proc/modules && echo MARKER-$((6*7))' exit)
rc=0
printf '%s\n' "${cmds[@]}" | VM_TIMEOUT=${VM_TIMEOUT:-600} "$VMDEV_ROOT/scripts/run-vm.sh" shell || rc=$?

fail() { say "shell test: FAILED: $*"; exit 1; }
[ "$rc" = 0 ] || fail "run-vm.sh shell exited with status $rc"
grep -qE '^rust_vmdev [0-9]+ [0-9]+ - Live' "$log" || fail "no rust_vmdev line of /proc/modules in $log"
grep -q 'MARKER-42' "$log" || fail "no MARKER-42 in $log: the piped commands did not run"
grep -q 'vmdev-shell: the shell exited with status 0' "$log" || fail "the shell did not exit on 'exit'"
say "shell test: passed (module loaded, commands ran, the VM powered off cleanly)"
