#!/usr/bin/env bash
# run-vm.sh [-h] MODE: boots the test VM with the module and the userspace programs and runs
# MODE in it (see usage below and guest-init.sh). Fails when the guest did not finish (panic,
# hang), when its programs failed, or when the kernel log shows a splat.
set -euo pipefail
source "$(dirname "$0")/common.sh"

usage() {
  cat <<'EOF'
usage: scripts/run-vm.sh [-h] MODE

Builds the userspace programs, the module (against the cached debug kernel, built if needed)
and the initramfs, boots the test VM (QEMU, 2 vCPUs, 3 GiB: KVM where /dev/kvm can run the
guest's architecture, else TCG, the log says which) and runs MODE in it. The whole
serial console, kernel log included, is kept in build/vm-MODE.log; the run fails when the guest
did not finish (panic, hang), when its programs failed, or when that log shows a kernel splat.

modes:
  demo      the four addresses of a byte on each node, struct page, fork and copy-on-write, a
            huge entry, then the mm_struct, the VMA tree, brk, swap and the fault handler's
            branches (make run); the terminal shows only the demo's output, the console goes
            to the log alone; then draws what it saw in build/vmdev-pages.svg
  fixtures  dump /proc/self/maps and smaps for the host tests (scripts/capture-fixtures.sh)
  stress    a long random workload, then a kmemleak scan (make stress)
  bench     rust_vmdev against its C twin (make bench, on the non-debug kernel)
  check     the selftest suite on the module, on its C twin and, where the kernel was built
            with the series in it, on that kernel's own build of the module (make check)
  shell     a busybox shell on the console with the module loaded and the tools in /bin
            (make shell); `exit` unloads the module and powers off. Piped stdin is sent once
            the shell is up, then an end of input (^D). Ctrl-A x kills the VM.

settings (environment; the scripts this one runs read them too):
  VM_APPEND      words added to the kernel command line (make stress: vmdev_stress_seconds=N)
  VM_TIMEOUT     seconds before QEMU is killed; default 3600, none for a shell on a terminal
  VM_QEMU_ARGS   more QEMU options, e.g. "-icount shift=4" (make bench; -icount keeps TCG),
                 "-cpu qemu64"
  VM_ACCEL       tcg: never KVM, even where /dev/kvm works
  VM_LOG         the console log; default build/vm-MODE.log
  VM_KERNEL      boot this kernel image instead of building one; needs VM_MODULE (check-stock)
  VM_MODULE      the rust-vmdev.ko built for VM_KERNEL (with VM_KERNEL nothing else is built)
  VM_TWIN        the C twin's vmdev_c.ko built for VM_KERNEL (check-arm64.sh)
  VM_IN_TREE     VM_KERNEL's own build of the module, from the series (make check)
  VMDEV_ARCH     x86_64 (default) or arm64: QEMU's virt machine, aarch64 userspace (check-arm64.sh);
                 what differs is common.sh's table, the ranges reserved at boot its VM_RESERVED
  KDIR           kernel build tree to build the module against and boot; default: the cached
                 debug kernel (scripts/build-kernel.sh, tinyconfig + scripts/vm.config)
  VMDEV_CACHE    cache of kernel source, kernel builds, gen_init_cpio; default
                 $XDG_CACHE_HOME/rust-vmdev, or ~/.cache/rust-vmdev without XDG_CACHE_HOME
  RUSTC          rustc for the kernel's Rust; default /usr/bin/rustc (Debian's, with rust-src)
  BINDGEN        bindgen for the kernel's Rust; default ~/.cargo/bin/bindgen (install-deps.sh)
  CLIPPY         1: build the module through clippy
EOF
}

case ${1:-} in
  -h | --help) usage; exit 0 ;;
  demo | fixtures | stress | bench | check | shell) mode=$1 ;;
  *) usage >&2; exit 2 ;;
esac
# The demo's output goes to its own serial port, the machine's second.
[ "$mode" != demo ] || [ -n "$TERMINAL" ] ||
  die "run-vm.sh demo: not on $VMDEV_ARCH (its machine has one UART, the demo's terminal is a second)"
"$VMDEV_ROOT/scripts/build-userspace.sh"
# VM_KERNEL and VM_MODULE boot another kernel with a module built for it (check-stock.sh), and
# VM_TWIN the C twin built for it (check-arm64.sh).
# The debug kernel's own build of the driver, from the series (samples/rust/rust_vmdev), goes
# beside them where that kernel has it (VM_IN_TREE with VM_KERNEL).
twin=${VM_TWIN:-} in_tree=${VM_IN_TREE:-}
if [ -z "${VM_KERNEL:-}" ]; then
  "$VMDEV_ROOT/scripts/build-module.sh"
  kdir=$(kernel_dir)
  VM_KERNEL=$kdir/$KIMAGE_PATH VM_MODULE=$VMDEV_ROOT/rust-vmdev.ko
  twin=$VMDEV_ROOT/c_twin/vmdev_c.ko
  [ ! -f "$kdir/samples/rust/rust_vmdev/rust-vmdev.ko" ] || in_tree=$kdir/samples/rust/rust_vmdev/rust-vmdev.ko
fi
log=${VM_LOG:-$VMDEV_ROOT/build/vm-$mode.log}
shown_log=${log#"$VMDEV_ROOT/"} # for messages
# The initramfs (and arm64's device tree) beside the log, one per log: runs with logs of their
# own can boot side by side (make check boots two).
initramfs=${log%.log}.cpio
"$VMDEV_ROOT/scripts/build-initramfs.sh" "$initramfs" "$VM_MODULE" ${twin:+"$twin"} ${in_tree:+"$in_tree"}

rm -f "$log"
# The ranges of RAM this mode reserves at boot (common.sh's VM_RESERVED), NAME:BASE,SIZE each.
mapfile -t reserved < <(reserved "$mode")
# panic_on_warn: a WARN ends the run at once, with its backtrace on the console.
# loglevel=7 in every mode, `make run` too: the console is the log the splat check reads, and a
# lower level would drop WARNING lines (KERN_WARNING) from it; `make run` is quiet because its
# terminal is another serial port, not because the kernel says less.
cmdline=("console=$CONSOLE" loglevel=7 panic=-1 oops=panic panic_on_warn=1 page_poison=1)
# The reservations: memmap=SIZE$BASE words where the kernel takes them (x86_64), else nodes of
# the device tree (below). Either way one vmdev_reserved=NAME:BASE,SIZE word (hex) per range
# tells the guest where each is (guest-init.sh, the suite, the bench look them up by name).
if [ "$RESERVE" = memmap ]; then
  for r in "${reserved[@]}"; do
    base=${r#*:} base=${base%,*} size=$((${r#*,}))
    if ((size % (1 << 30) == 0)); then size=$((size >> 30))G; else size=$((size >> 20))M; fi
    cmdline+=("memmap=$size\$$base")
  done
fi
cmdline+=("${reserved[@]/#/vmdev_reserved=}" "vmdev_mode=$mode"
          # And 4 MiB of RAM for each driver reserved by name (reserve_mem=SIZE:ALIGN:NAME, any
          # architecture), which its reserve_mem=1 parameter serves: the recommended boot
          # reservation.
          reserve_mem=4M:2M:rust_vmdev reserve_mem=4M:2M:vmdev_c
          # KUnit suites run when the suite asks (module.kunit, through debugfs), not at boot or
          # at each module load: their KTAP would come before the suite's and kunit.py parse
          # reads the first document of a log.
          kunit.autorun=0)
[ "$mode" != demo ] || cmdline+=("vmdev_terminal=$TERMINAL")
# The accelerator: KVM when this machine is of the guest's architecture and a KVM guest really
# runs here, else TCG. /dev/kvm can exist, open, start a machine and run firmware, and still hang
# a 64-bit kernel before its first line (under nested virtualisation on some hosts), so the probe
# boots the kernel itself with no root and waits for "Linux version" on its console, at most
# 20 s; the verdict is kept until the host reboots.
# -icount (make bench) counts the instructions TCG runs, so it keeps TCG, as VM_ACCEL=tcg does.
kvm_probe() {
  local boot cache=$VMDEV_CACHE/kvm-probe-$VMDEV_ARCH
  boot=$(cat /proc/sys/kernel/random/boot_id)
  if [ "$(head -n 1 "$cache" 2>/dev/null)" != "$boot $VM_KERNEL" ]; then
    mkdir -p "$VMDEV_CACHE"
    if timeout 20 "$QEMU_BIN" "${QEMU_MACHINE[@]}" -accel kvm -cpu max -m 512M -nodefaults -display none \
         -no-reboot -kernel "$VM_KERNEL" -append "console=$CONSOLE panic=-1" -serial stdio </dev/null 2>&1 |
         grep -q -a -m 1 'Linux version'; then
      printf '%s\n%s\n' "$boot $VM_KERNEL" "kvm" >"$cache"
    else
      printf '%s\n%s\n' "$boot $VM_KERNEL" "a KVM guest did not print its first line in 20 s" >"$cache"
    fi
  fi
  sed -n 2p "$cache"
}
accel=tcg
if [ "${VM_ACCEL:-}" = tcg ]; then
  why="VM_ACCEL=tcg"
elif [[ " ${VM_QEMU_ARGS:-} " == *" -icount "* ]]; then
  why="-icount needs TCG"
elif [ "$(uname -m)" != "$UNAME_M" ]; then
  why="this machine is $(uname -m)"
elif [ ! -e /dev/kvm ]; then
  why="no /dev/kvm"
elif why=$(kvm_probe) && [ "$why" = kvm ]; then
  accel=kvm why="a KVM guest runs here"
fi
# The machine: what its device tree depends on (arm64-dtb.sh dumps the tree with these options).
machine=("${QEMU_MACHINE[@]}" -accel "$accel" -cpu max -smp 2 -m "$VM_MEMORY")
# -nodefaults -display none: no VGA, NIC or firmware console (-nographic turns on SeaBIOS's serial
# console, whose escape codes and iPXE banner come before the kernel's first line).
qemu=("$QEMU_BIN" "${machine[@]}" -nodefaults -display none -no-reboot
      -kernel "$VM_KERNEL" -initrd "$initramfs")
if [ "$RESERVE" = dtb ]; then
  dtb=${log%.log}.dtb
  "$VMDEV_ROOT/scripts/arm64-dtb.sh" "$dtb" "${reserved[*]}" "$QEMU_BIN" "${machine[@]}"
  qemu+=(-dtb "$dtb")
fi
if [ "$mode" = shell ] && [ -t 0 ]; then
  # The guest's terminal learns the size of this one (stty in guest-init.sh).
  read -r rows cols < <(stty size) && cmdline+=("vmdev_tty=${rows}x$cols")
  timeout=${VM_TIMEOUT:-0}
else
  # A guard against a hung guest only, far above the slowest run: check, the longest, takes up
  # to 15 min on a 2-core machine busy with two other jobs.
  timeout=${VM_TIMEOUT:-3600}
fi
# VM_APPEND adds to the kernel command line, VM_QEMU_ARGS to QEMU's options (words, unquoted).
# shellcheck disable=SC2206
cmdline+=(${VM_APPEND:-})
# shellcheck disable=SC2206
qemu+=(${VM_QEMU_ARGS:-} -append "${cmdline[*]}")

# shell with piped stdin: what the user sends waits for guest-init.sh's ready line, printed
# once the console is open and its echo off (the UART drops what arrives before the guest opens
# it). Then the pipe's end becomes the shell's end of input (^D): a serial line has no EOF.
feed_shell() {
  exec 3>"$1"
  until grep -qs 'vmdev-shell: ready' "$log"; do sleep 0.2; done
  cat >&3
  printf '\004' >&3
}

say "vm: ${accel^^}: $why"
say "vm: booting ${VM_KERNEL/#"$HOME"/\~}${VM_QEMU_ARGS:+ with $VM_QEMU_ARGS}"
start=$SECONDS
# Boots the VM once, in $mode; sets qemu_rc.
boot() {
  set +e
  case $mode in
    demo)
      # ttyS0, the console (kernel log, /init's output), goes to the log alone; ttyS1, where
      # guest-init.sh copies the demo's output, is the terminal.
      say "vm: quiet: the terminal shows the demo's own output, the console goes to $shown_log"
      timeout --foreground "$timeout" "${qemu[@]}" -serial "file:$log" -serial stdio </dev/null
      qemu_rc=$? ;;
    shell)
      if [ -t 0 ]; then
        say "vm: exit in the guest's shell powers off; Ctrl-A x kills the VM; console in $log"
        timeout --foreground "$timeout" "${qemu[@]}" -serial mon:stdio | tee "$log"
        qemu_rc=${PIPESTATUS[0]}
      else
        fifo=$VMDEV_ROOT/build/vm-shell.stdin
        rm -f "$fifo"
        mkfifo "$fifo"
        exec 4<&0 # a background job's stdin would be /dev/null
        feed_shell "$fifo" <&4 &
        feeder=$!
        timeout --foreground "$timeout" "${qemu[@]}" -serial mon:stdio <"$fifo" | tee "$log"
        qemu_rc=${PIPESTATUS[0]}
        # The guest can end before its shell is up (a panic), or before the feeder's cat read all.
        pkill -P "$feeder" 2>/dev/null
        kill "$feeder" 2>/dev/null
        wait "$feeder" 2>/dev/null
        rm -f "$fifo"
      fi ;;
    *)
      timeout --foreground "$timeout" "${qemu[@]}" -serial mon:stdio </dev/null | tee "$log"
      qemu_rc=${PIPESTATUS[0]} ;;
  esac
  set -e
}
boot
# The debug kernel under TCG sometimes dies in early boot, before /init and any module: a KASAN
# report of a wild write in handle_edge_irq() during identify_cpu() (docs/testing.md). That run
# tested nothing, so it is kept aside and the VM booted once more; a second such death fails.
if ! grep -qa 'vmdev-guest:\|vmdev-shell:' "$log" && grep -qa 'Kernel panic' "$log"; then
  cp "$log" "${log%.log}-boot-panic.log"
  say "vm: the kernel panicked in early boot, before /init ran (console kept in" \
    "${shown_log%.log}-boot-panic.log): booting once more"
  boot
fi
say "vm: finished in $((SECONDS - start)) s"

splats=$(kernel_splats "$log")
guest_rc=$(sed -n 's/.*vmdev-guest: exit status \([0-9]*\).*/\1/p' "$log" | tail -n 1)
failed=
if [ -n "$splats" ]; then
  failed="the kernel log has a splat:"$'\n'"$splats"
elif [ -z "$guest_rc" ]; then
  failed="the guest did not finish (qemu status $qemu_rc: 124 is a timeout)"
elif [ "$guest_rc" != 0 ]; then
  failed="the guest's programs exited with status $guest_rc"
fi
if [ -n "$failed" ]; then
  # The terminal of a quiet run did not show the console: its end tells what happened.
  [ "$mode" != demo ] || { say "vm: the console's last lines:"; tail -n 30 "$log" | tr -d '\r' >&2; }
  say "vm: FAILED: $failed"
  say "vm: full console in $shown_log"
  exit 1
fi
say "vm: guest finished cleanly, no splat in the kernel log; full console in $shown_log"
if [ "$mode" = demo ]; then
  # The picture of what the demo saw, from its picture| lines in the log (vmdev::picture).
  svg=$VMDEV_ROOT/build/vmdev-pages.svg
  (cd "$VMDEV_ROOT/userspace" &&
    env -u RUSTC cargo run --quiet --release --locked --bin vmdev-picture -- "$log" "$svg")
  echo "picture: ${svg#"$VMDEV_ROOT/"}"
fi
