//! The Rust mirror of the UAPI header must match the header, checked by compiling a C
//! program against include/uapi/rust_vmdev.h and comparing what it prints.

use std::mem::offset_of;
use std::path::Path;
use std::process::Command;

use vmdev::uapi::{self, VmdevInfo, VmdevMm};

const PROBE: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include "rust_vmdev.h"
int main(void)
{
	printf("%zu %zu %zu %zu %zu %zu %zu\n", sizeof(struct vmdev_info),
	       offsetof(struct vmdev_info, size), offsetof(struct vmdev_info, backing),
	       offsetof(struct vmdev_info, flags), offsetof(struct vmdev_info, live_vmas),
	       offsetof(struct vmdev_info, faults), offsetof(struct vmdev_info, around_pages));
	printf("%lu %d %d %d %d %u %u %u %u %u %d %u %lu %s %s %s %s\n", (unsigned long)VMDEV_IOC_INFO,
	       VMDEV_BACKING_REMAP, VMDEV_BACKING_FAULT, VMDEV_BACKING_HUGE, VMDEV_BACKING_FOLIO,
	       VMDEV_FLAG_FAULT_AROUND, VMDEV_FLAG_BOOT_RESERVED, VMDEV_FLAG_HUGE_PMD,
	       VMDEV_FLAG_HUGE_PUD, VMDEV_FLAG_MMAP_PREPARE, VMDEV_FAULT_WINDOW_SHIFT,
	       VMDEV_FAULT_WINDOW_MASK, VMDEV_FAULT_WINDOW_BYTES(17U << VMDEV_FAULT_WINDOW_SHIFT | 1),
	       VMDEV_REMAP_PATH, VMDEV_FAULT_PATH, VMDEV_HUGE_PATH, VMDEV_FOLIO_PATH);
#define OFF(f) printf(" %zu", offsetof(struct vmdev_mm, f));
	printf("%zu", sizeof(struct vmdev_mm)); OFF(size) OFF(request) OFF(addr) OFF(mm_users) OFF(mm_count) OFF(map_count) OFF(mm_flags) OFF(total_vm) OFF(locked_vm) OFF(pinned_vm) OFF(data_vm) OFF(exec_vm) OFF(stack_vm) OFF(start_code) OFF(end_code) OFF(start_data) OFF(end_data) OFF(start_brk) OFF(brk) OFF(start_stack) OFF(arg_start) OFF(arg_end) OFF(env_start) OFF(env_end) OFF(mmap_base) OFF(vm_start) OFF(vm_end) OFF(vm_pgoff) OFF(vm_flags) OFF(vma) OFF(pad)
	printf("\n%lu %d %d %u %u %u %u %u %u %d\n", (unsigned long)VMDEV_IOC_MM, VMDEV_MM_LOOKUP,
	       VMDEV_MM_FIND, VMDEV_MM_ACTIVE, VMDEV_VMA_FOUND, VMDEV_VMA_FILE, VMDEV_VMA_DRIVER_FILE,
	       VMDEV_VMA_DRIVER_OPS, VMDEV_VMA_ANON_VMA, VMDEV_MM_SIZE_VER0);
	return 0;
}
"#;

fn probe_header() -> String {
    let dir = std::env::temp_dir().join(format!("vmdev-uapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, bin) = (dir.join("probe.c"), dir.join("probe"));
    std::fs::write(&src, PROBE).unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/uapi");
    let status = Command::new("cc")
        .args(["-Wall", "-Werror", "-o"])
        .arg(&bin)
        .arg("-I")
        .arg(&include)
        .arg(&src)
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "the UAPI header does not compile");
    let out = Command::new(&bin).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn mirror_matches_header() {
    let out = probe_header();
    let mut lines = out.lines();
    let layout = format!(
        "{} {} {} {} {} {} {}",
        size_of::<VmdevInfo>(),
        offset_of!(VmdevInfo, size),
        offset_of!(VmdevInfo, backing),
        offset_of!(VmdevInfo, flags),
        offset_of!(VmdevInfo, live_vmas),
        offset_of!(VmdevInfo, faults),
        offset_of!(VmdevInfo, around_pages)
    );
    assert_eq!(
        lines.next(),
        Some(layout.as_str()),
        "struct vmdev_info layout"
    );
    let constants = format!(
        "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
        uapi::VMDEV_IOC_INFO,
        uapi::BACKING_REMAP,
        uapi::BACKING_FAULT,
        uapi::BACKING_HUGE,
        uapi::BACKING_FOLIO,
        uapi::FLAG_FAULT_AROUND,
        uapi::FLAG_BOOT_RESERVED,
        uapi::FLAG_HUGE_PMD,
        uapi::FLAG_HUGE_PUD,
        uapi::FLAG_MMAP_PREPARE,
        uapi::FAULT_WINDOW_SHIFT,
        uapi::FAULT_WINDOW_MASK,
        uapi::fault_window_bytes(17 << uapi::FAULT_WINDOW_SHIFT | 1),
        uapi::REMAP_PATH,
        uapi::FAULT_PATH,
        uapi::HUGE_PATH,
        uapi::FOLIO_PATH
    );
    assert_eq!(
        lines.next(),
        Some(constants.as_str()),
        "ioctl number, constants and paths"
    );
    let offsets = [
        offset_of!(VmdevMm, size),
        offset_of!(VmdevMm, request),
        offset_of!(VmdevMm, addr),
        offset_of!(VmdevMm, mm_users),
        offset_of!(VmdevMm, mm_count),
        offset_of!(VmdevMm, map_count),
        offset_of!(VmdevMm, mm_flags),
        offset_of!(VmdevMm, total_vm),
        offset_of!(VmdevMm, locked_vm),
        offset_of!(VmdevMm, pinned_vm),
        offset_of!(VmdevMm, data_vm),
        offset_of!(VmdevMm, exec_vm),
        offset_of!(VmdevMm, stack_vm),
        offset_of!(VmdevMm, start_code),
        offset_of!(VmdevMm, end_code),
        offset_of!(VmdevMm, start_data),
        offset_of!(VmdevMm, end_data),
        offset_of!(VmdevMm, start_brk),
        offset_of!(VmdevMm, brk),
        offset_of!(VmdevMm, start_stack),
        offset_of!(VmdevMm, arg_start),
        offset_of!(VmdevMm, arg_end),
        offset_of!(VmdevMm, env_start),
        offset_of!(VmdevMm, env_end),
        offset_of!(VmdevMm, mmap_base),
        offset_of!(VmdevMm, vm_start),
        offset_of!(VmdevMm, vm_end),
        offset_of!(VmdevMm, vm_pgoff),
        offset_of!(VmdevMm, vm_flags),
        offset_of!(VmdevMm, vma),
        offset_of!(VmdevMm, pad),
    ];
    let layout = std::iter::once(size_of::<VmdevMm>())
        .chain(offsets)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        lines.next(),
        Some(layout.as_str()),
        "struct vmdev_mm layout"
    );
    let constants = format!(
        "{} {} {} {} {} {} {} {} {} {}",
        uapi::VMDEV_IOC_MM,
        uapi::MM_LOOKUP,
        uapi::MM_FIND,
        uapi::MM_ACTIVE,
        uapi::VMA_FOUND,
        uapi::VMA_FILE,
        uapi::VMA_DRIVER_FILE,
        uapi::VMA_DRIVER_OPS,
        uapi::VMA_ANON_VMA,
        uapi::MM_SIZE_VER0
    );
    assert_eq!(
        lines.next(),
        Some(constants.as_str()),
        "VMDEV_IOC_MM's number and constants"
    );
}

#[test]
fn ioctl_number_is_ior_v_1() {
    // _IOR('V', 1, 40 bytes): dir read (2) << 30 | size << 16 | 'V' << 8 | 1.
    assert_eq!(
        uapi::VMDEV_IOC_INFO,
        (2 << 30) | (40 << 16) | ((b'V' as u64) << 8) | 1
    );
}
