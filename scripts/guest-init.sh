#!/bin/busybox sh
# /init of the test VM: mount the pseudo filesystems, run what vmdev_mode= on the kernel
# command line asks for, print the marker the host waits for, power off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmp /tmp
export PATH=/bin

mode=$(sed -n 's/.*vmdev_mode=\([a-z]*\).*/\1/p' /proc/cmdline)
ko=/lib/modules/rust-vmdev.ko
case $mode in
  demo)
    insmod $ko && vmdev-demo && rmmod rust_vmdev
    rc=$? ;;
  fixtures)
    insmod $ko && vmdev-demo --proc-dump && rmmod rust_vmdev
    rc=$? ;;
  stress)
    arg() { sed -n "s/.*vmdev_stress_$1=\([0-9]*\).*/\1/p" /proc/cmdline; }
    echo clear > /sys/kernel/debug/kmemleak
    insmod $ko && vmdev-stress --seconds "$(arg seconds)" --seed "$(arg seed)" && rmmod rust_vmdev
    rc=$?
    # kmemleak reports objects older than 5 s that a scan finds unreferenced, in the kernel log.
    sleep 6 && echo scan > /sys/kernel/debug/kmemleak && cat /sys/kernel/debug/kmemleak ;;
  bench)
    # Printed after the run: kernel messages (module loads) would split lines on the console.
    vmdev-bench --rust $ko --c /lib/modules/vmdev_c.ko > /tmp/bench.txt
    rc=$?
    cat /tmp/bench.txt ;;
  check)
    # One KTAP document for kunit.py parse: its header here, each run a suite in it.
    twin=/lib/modules/vmdev_c.ko
    if [ -f $twin ]; then runs=2; else runs=1; fi
    printf 'KTAP version 1\n1..%s\n' $runs
    vmdev-selftest --module $ko --ktap-suite 1
    rc=$?
    # The same suite against the C twin proves it tests the ABI, not one implementation.
    if [ -f $twin ]; then
      vmdev-selftest --module $twin --remap /dev/vmdev_c-remap --fault /dev/vmdev_c-fault --ktap-suite 2 || rc=1
    fi ;;
  *)
    echo "vmdev_mode='$mode' is not demo, fixtures, stress, bench or check"
    rc=2 ;;
esac
echo "vmdev-guest: exit status $rc"
reboot -f
