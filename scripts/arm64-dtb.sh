#!/usr/bin/env bash
# arm64-dtb.sh OUT 'NAME:BASE,SIZE...' QEMU QEMU-OPTION...: writes to OUT the device tree that the
# emulator QEMU generates for the machine those options describe (-M MACHINE,dumpdtb=), plus a
# /reserved-memory node with no-map over each [BASE, BASE + SIZE) of the list (common.sh's
# reservations, as run-vm.sh renders them where RESERVE=dtb).
#
# arm64 has no memmap=: firmware reserves memory in the device tree instead. The kernel removes
# a no-map range from its linear map and from System RAM, and lists it in /proc/iomem as
# "reserved": the boot-reserved memory the module's phys_base mode serves. QEMU's tree depends on
# the options (CPUs, memory, GIC), so it is dumped with the very options the VM boots with.
set -euo pipefail
source "$(dirname "$0")/common.sh"

out=$1 qemu=$3
read -r -a ranges <<<"$2"
shift 3
machine=() next_is_machine=false
for opt in "$@"; do
  if $next_is_machine; then opt+=",dumpdtb=$out.qemu"; fi
  machine+=("$opt")
  next_is_machine=false
  case $opt in -M | -machine) next_is_machine=true ;; esac
done
# (QEMU says "dtb dumped" on stderr: shown only when it fails.)
"$qemu" "${machine[@]}" -nodefaults -display none >"$out.log" 2>&1 ||
  { cat "$out.log" >&2; die "$qemu ${machine[*]}: could not dump the device tree"; }
cells() { printf '0x%x 0x%x' $(($1 >> 32)) $(($1 & 0xffffffff)); }
{
  dtc -q -I dtb -O dts "$out.qemu"
  printf '/ {\n\treserved-memory {\n\t\t#address-cells = <2>;\n\t\t#size-cells = <2>;\n\t\tranges;\n'
  for r in "${ranges[@]}"; do
    name=${r%%:*} base=${r#*:} base=${base%,*} size=${r#*,}
    printf '\t\tvmdev-%s@%x {\n\t\t\treg = <%s %s>;\n\t\t\tno-map;\n\t\t};\n' \
      "$name" "$base" "$(cells "$base")" "$(cells "$size")"
  done
  printf '\t};\n};\n'
} | dtc -q -I dts -O dtb -o "$out"
rm -f "$out.qemu" "$out.log"
