//! The Rust mirror of the UAPI header must match the header, checked by compiling a C
//! program against include/uapi/rust_vmdev.h and comparing what it prints.

use std::mem::offset_of;
use std::path::Path;
use std::process::Command;

use vmdev::uapi::{self, VmdevInfo};

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
	printf("%lu %d %d %d %u %u %u %u %u %d %u %lu %s %s %s\n", (unsigned long)VMDEV_IOC_INFO,
	       VMDEV_BACKING_REMAP, VMDEV_BACKING_FAULT, VMDEV_BACKING_HUGE,
	       VMDEV_FLAG_FAULT_AROUND, VMDEV_FLAG_BOOT_RESERVED, VMDEV_FLAG_HUGE_PMD,
	       VMDEV_FLAG_HUGE_PUD, VMDEV_FLAG_MMAP_PREPARE, VMDEV_FAULT_WINDOW_SHIFT,
	       VMDEV_FAULT_WINDOW_MASK, VMDEV_FAULT_WINDOW_BYTES(17U << VMDEV_FAULT_WINDOW_SHIFT | 1),
	       VMDEV_REMAP_PATH, VMDEV_FAULT_PATH, VMDEV_HUGE_PATH);
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
        "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
        uapi::VMDEV_IOC_INFO,
        uapi::BACKING_REMAP,
        uapi::BACKING_FAULT,
        uapi::BACKING_HUGE,
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
        uapi::HUGE_PATH
    );
    assert_eq!(
        lines.next(),
        Some(constants.as_str()),
        "ioctl number, constants and paths"
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
