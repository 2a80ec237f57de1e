#!/bin/busybox sh
# shellcheck shell=dash
# /init of the test VM: mount the pseudo filesystems, run what vmdev_mode= on the kernel
# command line asks for, print the marker the host waits for, power off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmp /tmp
export PATH=/bin
# The function tracer's files (vmdev-demo and the suite's mm.fault_branches record the fault
# handler's branches), and a swap area on a zram device, ready for the swap test and the demo to
# turn on for the while they need it (the rest of the suite runs without swap).
[ -d /sys/kernel/tracing ] && mount -t tracefs tracefs /sys/kernel/tracing
if [ -e /sys/block/zram0 ]; then
  echo 32M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null
fi
# What this run tests: the kernel, the machine and the page size (arm64 runs 4 KiB and 16 KiB).
echo "vmdev-guest: $(uname -s) $(uname -r) $(uname -m), page size" \
  "$(sed -n 's/^KernelPageSize: *//p' /proc/self/smaps | head -n 1)"
# reserved NAME: the range reserved at boot that the kernel command line names NAME, one
# vmdev_reserved=NAME:BASE,SIZE word each (run-vm.sh), as `BASE SIZE`; nothing when none is.
reserved() {
  tr ' ' '\n' </proc/cmdline | sed -n "s/^vmdev_reserved=$1:\(0x[0-9a-f]*\),\(0x[0-9a-f]*\)\$/\1 \2/p" |
    head -n 1
}
# phys NAME: the module parameters that serve the remap and huge nodes from that range.
phys() {
  local r
  r=$(reserved "$1")
  [ -z "$r" ] || echo "phys_base=${r% *} phys_size=${r#* }"
}
# The boot reservations, and the /proc/iomem entries holding them.
read -r words </proc/cmdline
for w in $words; do
  case $w in
    vmdev_reserved=*:0x*,*) r=${w#*:} base=$((${r%,*}))
      while read -r range _ name; do
        [ $((0x${range%-*})) -le $base ] && [ $base -le $((0x${range#*-})) ] &&
          echo "vmdev-guest: $w: /proc/iomem: $range : $name"
      done </proc/iomem ;;
  esac
done

mode=$(sed -n 's/.*vmdev_mode=\([a-z]*\).*/\1/p' /proc/cmdline)
ko=/lib/modules/rust-vmdev.ko
case $mode in
  demo)
    # The host's terminal is the second serial port (run-vm.sh): it gets the demo's output, and
    # the errors of the steps around it, while the console (the log) gets them as well.
    # vmdev_terminal= names that port.
    term=/dev/$(sed -n 's/.*vmdev_terminal=\([a-zA-Z0-9]*\).*/\1/p' /proc/cmdline)
    stty -onlcr <"$term" # plain newlines, as a program's output on the host would have
    { insmod $ko && vmdev-demo --picture /tmp/picture && rmmod rust_vmdev; echo $? >/tmp/rc; } 2>&1 |
      tee "$term"
    rc=$(cat /tmp/rc)
    # What the picture shows, on the console (the log) alone: run-vm.sh draws it on the host.
    cat /tmp/picture 2>/dev/null ;;
  fixtures)
    insmod $ko && vmdev-demo --proc-dump --picture /tmp/picture && rmmod rust_vmdev
    rc=$?
    cat /tmp/picture 2>/dev/null ;;
  stress)
    arg() { sed -n "s/.*vmdev_stress_$1=\([0-9]*\).*/\1/p" /proc/cmdline; }
    seconds=$(arg seconds) seed=$(arg seed)
    echo clear > /sys/kernel/debug/kmemleak
    # The four nodes over the default buffers (the huge node's PMD spans); then the huge node
    # alone with the module on the pud reservation, one PUD span, the same seed and time.
    insmod $ko && vmdev-stress --seconds "$seconds" --seed "$seed" && rmmod rust_vmdev
    rc=$?
    pud=$(phys pud)
    if [ $rc = 0 ] && [ -n "$pud" ]; then
      # shellcheck disable=SC2086 # pud is words
      insmod $ko $pud && vmdev-stress --nodes huge --seconds "$seconds" --seed "$seed" && rmmod rust_vmdev
      rc=$?
    fi
    # kmemleak reports objects older than 5 s that a scan finds unreferenced, in the kernel log.
    sleep 6 && echo scan > /sys/kernel/debug/kmemleak && cat /sys/kernel/debug/kmemleak ;;
  bench)
    # Printed after the run: kernel messages (module loads) would split lines on the console.
    # vmdev-bench finds the reservations by name: the remap and huge nodes serve huge, which
    # /dev/mem maps too; the C twin's serve twin.
    reps=$(sed -n 's/.*vmdev_bench_reps=\([0-9]*\).*/\1/p' /proc/cmdline)
    vmdev-bench --rust $ko --c /lib/modules/vmdev_c.ko ${reps:+--reps "$reps"} > /tmp/bench.txt
    rc=$?
    cat /tmp/bench.txt ;;
  check)
    # One KTAP document for kunit.py parse: its header here, each run a suite in it.
    twin=/lib/modules/vmdev_c.ko
    # With pages larger than 4 KiB a PMD spans more than the default buffers hold (32 MiB with
    # 16 KiB pages; the remap buffer is at most one buddy block, 32 MiB, the fault buffer 16 MiB),
    # so the tests that need two spans skip: they run once more with the module loaded on the
    # huge reservation (64 MiB, two spans) and a fault buffer as large.
    huge2=
    if [ "$(sed -n 's/^KernelPageSize: *//p' /proc/self/smaps | head -n 1)" != "4 kB" ]; then
      huge2=$(phys huge)
      [ -z "$huge2" ] || huge2="$huge2 fault_size=${huge2#*phys_size=}"
    fi
    two_spans="--test huge. --test remap.placement_congruent_to_offset --test fault.placement_congruent_to_offset"
    # vmdev_tests=PREFIX,...: only those tests (check.sh's run on a CPU without 1 GiB pages).
    only=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^vmdev_tests=//p' | sed 's/^/--test /; s/,/ --test /g')
    # vmdev_part=1 or 2 (make check boots two VMs side by side, each running a part): 1 runs the
    # module and its in-tree build, 2 the C twin and the classic hook's runs; without it, all.
    part=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^vmdev_part=//p')
    mine() { [ -z "$part" ] || [ "$part" = "$1" ]; }
    drivers=1
    if [ -f $twin ]; then drivers=2; fi
    per=1
    if [ -n "$huge2" ]; then per=2; fi
    runs=0
    if mine 1; then runs=$per; fi
    if [ -f $twin ] && mine 2; then runs=$((runs + per)); fi
    # The debug kernel's own build of the module, from the patch series (samples/rust/), where
    # the initramfs has it: the whole suite once more, in the run of the whole suite.
    in_tree=/lib/modules/in-tree/rust-vmdev.ko
    if [ -f $in_tree ] && [ -z "$only" ] && mine 1; then runs=$((runs + 1)); else in_tree=; fi
    # Last, with vmdev_hooks=both (make check's first boot), each driver once more with its
    # nodes on the classic f_op->mmap hook (module parameter mmap_prepare=0; the runs above use
    # the default, f_op->mmap_prepare), over the tests that reach the hook and the VMA
    # operations: every node's, between the load and the unload, but the half-minute race of
    # MADV_DONTNEED against faults, whose path the hook does not change.
    classic=
    if tr ' ' '\n' </proc/cmdline | grep -qx 'vmdev_hooks=both' && mine 2; then
      classic="--module-params mmap_prepare=0 --test module.load --test remap. --test huge. --test fault. --test folio. --test module.unload --test module.kmemleak_clean --skip fault.dontneed_vs_read_faults --skip folio.dontneed_vs_read_faults"
      runs=$((runs + drivers))
    fi
    printf 'KTAP version 1\n1..%s\n' $runs
    # --peer: the other driver, which claims a boot range the one under test must then refuse.
    peer=
    if [ -f $twin ]; then peer="--peer $twin"; fi
    nodes="--remap /dev/vmdev_c-remap --huge /dev/vmdev_c-huge --fault /dev/vmdev_c-fault --folio /dev/vmdev_c-folio"
    rc=0 n=0
    if mine 1; then
      n=$((n + 1))
      # shellcheck disable=SC2086 # peer and only are words
      vmdev-selftest --module $ko $peer $only --ktap-suite $n || rc=1
      if [ -n "$huge2" ]; then
        n=$((n + 1))
        # shellcheck disable=SC2086 # huge2 and two_spans are words
        { insmod $ko $huge2 && vmdev-selftest $two_spans --ktap-suite $n && rmmod rust_vmdev; } || rc=1
      fi
    fi
    # The same suite against the C twin proves it tests the ABI, not one implementation.
    if [ -f $twin ] && mine 2; then
      n=$((n + 1))
      # shellcheck disable=SC2086 # nodes and only are words
      vmdev-selftest --module $twin --peer $ko $nodes $only --ktap-suite $n || rc=1
      if [ -n "$huge2" ]; then
        n=$((n + 1))
        # shellcheck disable=SC2086
        { insmod $twin $huge2 && vmdev-selftest $nodes $two_spans --ktap-suite $n && rmmod vmdev_c; } || rc=1
      fi
    fi
    if [ -n "$in_tree" ]; then
      n=$((n + 1))
      # Its KUnit cases are the kernel's: the layer's and the kernel crate's doctests. The
      # campaigns that test the source and the core rather than the build, which the out-of-tree
      # build's run took already, are left out: the half-minute races of MADV_DONTNEED against
      # faults, the seeded stress runs, and the load stepped through every allocation failing.
      # shellcheck disable=SC2086 # peer is words
      vmdev-selftest --module $in_tree $peer --suite-name rust_vmdev.in_tree \
        --kunit rust_kernel_mm_ --kunit rust_doctests_kernel --ktap-suite $n \
        --skip fault.dontneed_vs_read_faults --skip folio.dontneed_vs_read_faults \
        --skip stress. --skip module.inject_load || rc=1
    fi
    # vmdev_reproducer=1 (make check's boot with the core-fixed build): the reproducer of
    # kernel-patches/ (kselftest_harness) against the module on the pud reservation; its TAP as
    # diagnostics, then its totals as a line of their own.
    if tr ' ' '\n' </proc/cmdline | grep -qx 'vmdev_reproducer=1' && [ -x /bin/pud_pfnmap ]; then
      gib=$(phys pud)
      repro=1
      # shellcheck disable=SC2086 # gib is words
      if insmod $ko $gib; then
        pud_pfnmap >/tmp/repro.txt 2>&1 && repro=0
        rmmod rust_vmdev || repro=1
      fi
      sed 's/^/# pud_pfnmap: /' /tmp/repro.txt
      totals=$(sed -n 's/^# Totals: pass:\([0-9]*\) fail:\([0-9]*\) .*skip:\([0-9]*\).*/\1 \2 \3/p' /tmp/repro.txt)
      echo "${totals:-0 1 0}" | { read -r p f s; echo "$p passed, $f failed, $s skipped"; }
      [ "$repro" = 0 ] || rc=1
    fi
    if [ -n "$classic" ]; then
      # How long each took (guest time), as a KTAP diagnostic line.
      for driver in $ko $twin; do
        [ -f "$driver" ] || continue
        args=
        if [ "$driver" = $twin ]; then args=$nodes; fi
        n=$((n + 1))
        start=$(date +%s)
        # shellcheck disable=SC2086 # args and classic are words
        vmdev-selftest --module $driver $args $classic --ktap-suite $n || rc=1
        echo "# vmdev-guest: $driver with mmap_prepare=0 (suite $n): $(($(date +%s) - start)) s"
      done
    fi ;;
  shell)
    if insmod $ko; then loaded=0 what="rust_vmdev is loaded"; else loaded=$? what="insmod FAILED"; fi
    size=$(sed -n 's/.*vmdev_tty=\([0-9]*x[0-9]*\).*/\1/p' /proc/cmdline)
    # No size: run-vm.sh's stdin is not a terminal but piped input, sent after the ready line.
    # No echo then, which also keeps the shell off its line editor (whose cursor position query,
    # ESC [6n, a terminal showing the output would answer with garbage); -v shows each line read.
    if [ -n "$size" ]; then stty rows "${size%x*}" cols "${size#*x}"; opt=; else stty -echo; opt=-v; fi
    echo "vmdev-shell: ready: $what; the tools are in /bin (vmdev-demo, vmdev-selftest, ...)," \
      "the C twin in /lib/modules/vmdev_c.ko; exit powers off"
    # -c: the console becomes the shell's controlling terminal, so ^C and job control work.
    # shellcheck disable=SC2086
    PS1='vmdev:\w\$ ' setsid -c sh $opt
    rc=$?
    echo "vmdev-shell: the shell exited with status $rc"
    if grep -q '^rust_vmdev ' /proc/modules; then rmmod rust_vmdev || rc=1; fi
    [ $loaded = 0 ] || rc=$loaded ;;
  *)
    echo "vmdev_mode='$mode' is not demo, fixtures, stress, bench, check or shell"
    rc=2 ;;
esac
echo "vmdev-guest: exit status $rc"
reboot -f
