# Sourced by run-vm.sh when VMDEV_ARCH=arm64 (make check-arm64): turns its x86 kernel command
# line (the cmdline array) and QEMU command (the qemu array) into QEMU's arm64 virt machine.
# shellcheck shell=bash
# shellcheck disable=SC2154 # cmdline, qemu and mode are run-vm.sh's

# The boot-reserved range for phys_base: the last 4 MiB of the 2 GiB of RAM, which the virt
# machine puts at 1 GiB (where x86 reserves its range), far from what QEMU loads at the bottom
# of RAM (kernel, initramfs, device tree). arm64 has no memmap=: the range is a /reserved-memory
# no-map node in the device tree (arm64-dtb.sh), which /proc/iomem shows as "reserved". The
# suite reads it from vmdev_reserved=BASE,SIZE on the command line, as on x86.
arm64_reserved=(0xbfc00000 0x400000)

words=()
machine=(-M virt) # the options the device tree depends on, as run-vm.sh gives them
for ((i = 0; i < ${#qemu[@]}; i++)); do
  case ${qemu[i]} in
    -cpu | -smp | -m) machine+=("${qemu[i]}" "${qemu[i + 1]}") ;;
  esac
done
[[ " ${machine[*]} " == *" -m 2G "* ]] || die "arm64-vm.sh: the reserved range assumes -m 2G"
arm64_dtb=$VMDEV_ROOT/build/virt-reserved.dtb
"$VMDEV_ROOT/scripts/arm64-dtb.sh" "$arm64_dtb" "${arm64_reserved[@]}" "${machine[@]}"
words=()
for w in "${cmdline[@]}"; do
  case $w in
    console=ttyS0) words+=(console=ttyAMA0) ;; # the virt machine's PL011 UART
    memmap=* | vmdev_reserved=*) ;;           # x86's reservation
    *) words+=("$w") ;;
  esac
done
cmdline=("${words[@]}" "vmdev_reserved=${arm64_reserved[0]},${arm64_reserved[1]}")
words=()
for w in "${qemu[@]}"; do
  case $w in
    qemu-system-x86_64) words+=(qemu-system-aarch64 -M virt -dtb "$arm64_dtb") ;;
    *) words+=("$w") ;;
  esac
done
qemu=("${words[@]}")
unset words machine
# The virt machine has one UART, so the demo's second serial port (its terminal) is missing.
[ "$mode" != demo ] || die "run-vm.sh demo: not on arm64 (QEMU's virt machine has one UART)"
