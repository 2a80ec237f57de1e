// SPDX-License-Identifier: GPL-2.0

//! The driver's ABI, as `include/uapi/rust_vmdev.h` defines it: the structures the ioctls copy,
//! their numbers, and the values of their fields. `tests/uapi.rs` in userspace and
//! `helpers/vmdev.c` check the layouts against the header.

use kernel::{ioctl::_IOR, page::PAGE_SHIFT, prelude::*};

/// `struct vmdev_info`, the answer to [`VMDEV_IOC_INFO`].
#[derive(IntoBytes, zerocopy_derive::Immutable)]
#[repr(C)]
pub(crate) struct VmdevInfo {
    pub(crate) size: u64,
    pub(crate) backing: u32,
    pub(crate) flags: u32,
    pub(crate) live_vmas: u64,
    pub(crate) faults: u64,
    pub(crate) around_pages: u64,
}

// `sizeof(struct vmdev_info)` in the header, which `helpers/vmdev.c` asserts too; the derive above
// proves there is no padding.
const _: () = assert!(size_of::<VmdevInfo>() == 40);

/// `_IOR('V', 1, struct vmdev_info)`: reports the device's size, kind and counters.
pub(crate) const VMDEV_IOC_INFO: u32 = _IOR::<VmdevInfo>('V' as u32, 1);

/// `vmdev_info.backing` of `/dev/vmdev-remap`.
pub(crate) const BACKING_REMAP: u32 = 1;
/// `vmdev_info.backing` of `/dev/vmdev-fault`.
pub(crate) const BACKING_FAULT: u32 = 2;
/// `vmdev_info.backing` of `/dev/vmdev-huge`.
pub(crate) const BACKING_HUGE: u32 = 3;
/// `vmdev_info.backing` of `/dev/vmdev-folio`.
pub(crate) const BACKING_FOLIO: u32 = 4;
/// `vmdev_info.flags`: a fault maps the window of pages around it, not one page.
pub(crate) const FLAG_FAULT_AROUND: u32 = 1 << 0;
/// `vmdev_info.flags`: the memory is a physical range reserved at boot.
pub(crate) const FLAG_BOOT_RESERVED: u32 = 1 << 1;
/// `vmdev_info.flags` of `/dev/vmdev-huge` and `/dev/vmdev-folio`: this kernel can map them with
/// PMD entries.
pub(crate) const FLAG_HUGE_PMD: u32 = 1 << 2;
/// `vmdev_info.flags` of `/dev/vmdev-huge`: this kernel, on this CPU, can map it with PUD entries.
pub(crate) const FLAG_HUGE_PUD: u32 = 1 << 3;
/// `vmdev_info.flags`: the node's mapping hook is `f_op->mmap_prepare`.
pub(crate) const FLAG_MMAP_PREPARE: u32 = 1 << 4;

/// `VMDEV_FAULT_WINDOW_SHIFT`: the bit of `vmdev_info.flags` of `/dev/vmdev-fault` from which
/// it holds log2 of the bytes one fault maps at most (bits 26-31, as `MAP_HUGE_SHIFT` puts a
/// page size in `mmap()`'s flags).
const FAULT_WINDOW_SHIFT: u32 = 26;

/// The bits of `vmdev_info.flags` that say a fault maps at most `2^order` pages.
pub(crate) fn window_flags(order: u32) -> u32 {
    (order + PAGE_SHIFT as u32) << FAULT_WINDOW_SHIFT
}

/// `struct vmdev_mm`, the request and the answer.
#[derive(FromBytes, IntoBytes, zerocopy_derive::Immutable)]
#[repr(C)]
pub(crate) struct VmdevMm {
    pub(crate) size: u32,
    pub(crate) request: u32,
    pub(crate) addr: u64,
    pub(crate) mm_users: u32,
    pub(crate) mm_count: u32,
    pub(crate) map_count: u32,
    pub(crate) mm_flags: u32,
    pub(crate) total_vm: u64,
    pub(crate) locked_vm: u64,
    pub(crate) pinned_vm: u64,
    pub(crate) data_vm: u64,
    pub(crate) exec_vm: u64,
    pub(crate) stack_vm: u64,
    pub(crate) start_code: u64,
    pub(crate) end_code: u64,
    pub(crate) start_data: u64,
    pub(crate) end_data: u64,
    pub(crate) start_brk: u64,
    pub(crate) brk: u64,
    pub(crate) start_stack: u64,
    pub(crate) arg_start: u64,
    pub(crate) arg_end: u64,
    pub(crate) env_start: u64,
    pub(crate) env_end: u64,
    pub(crate) mmap_base: u64,
    pub(crate) vm_start: u64,
    pub(crate) vm_end: u64,
    pub(crate) vm_pgoff: u64,
    pub(crate) vm_flags: u64,
    pub(crate) vma: u32,
    pub(crate) pad: u32,
}

// `VMDEV_MM_SIZE_VER0`, which `helpers/vmdev.c` asserts too; the derives prove there is no
// padding. This driver knows the first version only.
const _: () = assert!(size_of::<VmdevMm>() == 216);

/// `VMDEV_MM_LOOKUP`: the VMA containing `addr`.
pub(crate) const MM_LOOKUP: u32 = 0;
/// `VMDEV_MM_FIND`: the first VMA ending above `addr`.
pub(crate) const MM_FIND: u32 = 1;
/// `vmdev_mm.mm_flags`: the caller's `active_mm` is its `mm`.
pub(crate) const MM_ACTIVE: u32 = 1 << 0;
/// `vmdev_mm.vma` bits.
pub(crate) const VMA_FOUND: u32 = 1 << 0;
pub(crate) const VMA_FILE: u32 = 1 << 1;
pub(crate) const VMA_DRIVER_FILE: u32 = 1 << 2;
pub(crate) const VMA_DRIVER_OPS: u32 = 1 << 3;
pub(crate) const VMA_ANON_VMA: u32 = 1 << 4;
