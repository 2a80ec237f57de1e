# Sourced by run-vm.sh when VMDEV_ARCH=arm64 (make check-arm64): turns its x86 kernel command
# line (the cmdline array) and QEMU command (the qemu array) into QEMU's arm64 virt machine.
# shellcheck shell=bash
# shellcheck disable=SC2154 # cmdline, qemu and mode are run-vm.sh's

# The boot-reserved ranges, as on x86 (run-vm.sh) and in the same order, each aligned to its
# size: 4 MiB (phys_base), 64 MiB (huge PMD mappings; 2 PMDs with 16 KiB pages), 1 GiB (a PUD
# with 4 KiB pages, where the architecture has them: arm64 does not). The virt machine puts RAM
# at 1 GiB, where x86 reserves its first range, and QEMU loads the kernel, the initramfs and the
# device tree at the bottom of it, so they are in the top half of the 3 GiB, with System RAM
# between them as on x86 (a range reaching past one must not reach into the next). arm64 has no
# memmap=: they are /reserved-memory no-map nodes in the device tree (arm64-dtb.sh), which
# /proc/iomem shows as "reserved". The suite reads them from the vmdev_reserved= words.
arm64_reserved=("0xb0000000,0x400000" "0xb8000000,0x4000000" "0xc0000000,0x40000000")

machine=(-M virt) # the options the device tree depends on, as run-vm.sh gives them
for ((i = 0; i < ${#qemu[@]}; i++)); do
  case ${qemu[i]} in
    -accel | -cpu | -smp | -m) machine+=("${qemu[i]}" "${qemu[i + 1]}") ;;
  esac
done
[[ " ${machine[*]} " == *" -m 3G "* ]] || die "arm64-vm.sh: the reserved ranges assume -m 3G"
arm64_dtb=$VMDEV_ROOT/build/virt-reserved.dtb
"$VMDEV_ROOT/scripts/arm64-dtb.sh" "$arm64_dtb" "${arm64_reserved[*]}" "${machine[@]}"

words=()
for w in "${cmdline[@]}"; do
  case $w in
    console=ttyS0) words+=(console=ttyAMA0) ;; # the virt machine's PL011 UART
    memmap=* | vmdev_reserved=*) ;;           # x86's reservations
    *) words+=("$w") ;;
  esac
done
cmdline=("${words[@]}" "${arm64_reserved[@]/#/vmdev_reserved=}")
words=()
for w in "${qemu[@]}"; do
  case $w in
    qemu-system-aarch64) words+=(qemu-system-aarch64 -M virt -dtb "$arm64_dtb") ;;
    *) words+=("$w") ;;
  esac
done
qemu=("${words[@]}")
unset words machine
# The virt machine has one UART, so the demo's second serial port (its terminal) is missing.
[ "$mode" != demo ] || die "run-vm.sh demo: not on arm64 (QEMU's virt machine has one UART)"
