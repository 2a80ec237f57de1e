//! The Rust mirror of `include/uapi/rust_vmdev.h`; `tests/uapi.rs` checks it against the header.

use std::os::fd::{AsFd, AsRawFd};

/// The node of the physically contiguous device (mapped with `remap_pfn_range`).
pub const REMAP_PATH: &str = "/dev/vmdev-remap";
/// The node of the vmalloc device (mapped on fault).
pub const FAULT_PATH: &str = "/dev/vmdev-fault";
/// The node that maps the remap device's memory on fault, with huge entries where aligned.
pub const HUGE_PATH: &str = "/dev/vmdev-huge";
/// The node of PMD-order folios, mapped on fault with one PMD entry per folio where aligned.
pub const FOLIO_PATH: &str = "/dev/vmdev-folio";

/// `vmdev_info.backing` of the remap device.
pub const BACKING_REMAP: u32 = 1;
/// `vmdev_info.backing` of the fault device.
pub const BACKING_FAULT: u32 = 2;
/// `vmdev_info.backing` of the huge device.
pub const BACKING_HUGE: u32 = 3;
/// `vmdev_info.backing` of the folio device.
pub const BACKING_FOLIO: u32 = 4;
/// `vmdev_info.flags`: a fault maps the window around it (see [`fault_window_bytes`]).
pub const FLAG_FAULT_AROUND: u32 = 1 << 0;
/// `vmdev_info.flags`: the memory is a range reserved at boot.
pub const FLAG_BOOT_RESERVED: u32 = 1 << 1;
/// `vmdev_info.flags` of the huge and folio devices: the kernel can map PMD entries.
pub const FLAG_HUGE_PMD: u32 = 1 << 2;
/// `vmdev_info.flags` of the huge device: the kernel can map PUD entries.
pub const FLAG_HUGE_PUD: u32 = 1 << 3;
/// `vmdev_info.flags`: the node's mapping hook is `f_op->mmap_prepare`, not `f_op->mmap`.
pub const FLAG_MMAP_PREPARE: u32 = 1 << 4;
/// Where `vmdev_info.flags` of the fault device holds log2 of the bytes one fault maps at most.
pub const FAULT_WINDOW_SHIFT: u32 = 26;
/// ... and the mask of that field once shifted.
pub const FAULT_WINDOW_MASK: u32 = 0x3f;

/// `VMDEV_FAULT_WINDOW_BYTES(flags)`: the bytes one fault on the fault device maps at most, its
/// window (the page size without fault-around); 1 on the other nodes, whose field is 0.
pub fn fault_window_bytes(flags: u32) -> usize {
    1 << ((flags >> FAULT_WINDOW_SHIFT) & FAULT_WINDOW_MASK)
}

/// `struct vmdev_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct VmdevInfo {
    /// Bytes of the buffer.
    pub size: u64,
    /// `BACKING_*`.
    pub backing: u32,
    /// `FLAG_*`.
    pub flags: u32,
    /// VMAs mapping the device now, in all processes.
    pub live_vmas: u64,
    /// Faulting pages (on the huge device: entries) the fault handlers mapped since load.
    pub faults: u64,
    /// Pages mapped together with a faulting one since load.
    pub around_pages: u64,
}

nix::ioctl_read!(vmdev_ioc_info, b'V', 1, VmdevInfo);

/// `VMDEV_IOC_INFO`, the request number.
pub const VMDEV_IOC_INFO: u64 = nix::request_code_read!(b'V', 1, size_of::<VmdevInfo>()) as u64;

/// Asks the device behind `fd` for its `vmdev_info`.
pub fn info(fd: impl AsFd) -> nix::Result<VmdevInfo> {
    let mut info = VmdevInfo::default();
    // SAFETY: `info` is a valid, writable `struct vmdev_info` for the duration of the call.
    unsafe { vmdev_ioc_info(fd.as_fd().as_raw_fd(), &mut info) }?;
    Ok(info)
}

/// `vmdev_mm.request`: the VMA containing `addr` (`vma_lookup()`).
pub const MM_LOOKUP: u32 = 0;
/// `vmdev_mm.request`: the first VMA ending above `addr` (`find_vma()`).
pub const MM_FIND: u32 = 1;
/// `vmdev_mm.mm_flags`: the caller's `active_mm` is its own `mm`.
pub const MM_ACTIVE: u32 = 1 << 0;
/// `vmdev_mm.vma`: a VMA was found.
pub const VMA_FOUND: u32 = 1 << 0;
/// `vmdev_mm.vma`: it maps a file (`vm_file`).
pub const VMA_FILE: u32 = 1 << 1;
/// `vmdev_mm.vma`: its file is a node of the driver that answered.
pub const VMA_DRIVER_FILE: u32 = 1 << 2;
/// `vmdev_mm.vma`: its `vm_ops` are that driver's.
pub const VMA_DRIVER_OPS: u32 = 1 << 3;
/// `vmdev_mm.vma`: it has an `anon_vma`.
pub const VMA_ANON_VMA: u32 = 1 << 4;
/// `VMDEV_MM_SIZE_VER0`.
pub const MM_SIZE_VER0: usize = 216;

/// `struct vmdev_mm`: the caller's `mm_struct` and one of its VMAs, as the kernel holds them.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct VmdevMm {
    /// Bytes the driver filled in.
    pub size: u32,
    /// `MM_LOOKUP` or `MM_FIND`.
    pub request: u32,
    /// The address of the request.
    pub addr: u64,
    pub mm_users: u32,
    pub mm_count: u32,
    pub map_count: u32,
    /// `MM_*`.
    pub mm_flags: u32,
    pub total_vm: u64,
    pub locked_vm: u64,
    pub pinned_vm: u64,
    pub data_vm: u64,
    pub exec_vm: u64,
    pub stack_vm: u64,
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    pub mmap_base: u64,
    pub vm_start: u64,
    pub vm_end: u64,
    pub vm_pgoff: u64,
    pub vm_flags: u64,
    /// `VMA_*`.
    pub vma: u32,
    pub pad: u32,
}

nix::ioctl_readwrite!(vmdev_ioc_mm, b'V', 2, VmdevMm);

/// `VMDEV_IOC_MM`, the request number.
pub const VMDEV_IOC_MM: u64 = nix::request_code_readwrite!(b'V', 2, size_of::<VmdevMm>()) as u64;

/// Asks the driver behind `fd` about the caller's address space and the VMA `request` names at
/// `addr` (`MM_LOOKUP` or `MM_FIND`).
pub fn mm(fd: impl AsFd, request: u32, addr: u64) -> nix::Result<VmdevMm> {
    let mut m = VmdevMm {
        request,
        addr,
        ..VmdevMm::default()
    };
    // SAFETY: `m` is a `struct vmdev_mm`, valid for the driver to read and write.
    unsafe { vmdev_ioc_mm(fd.as_fd().as_raw_fd(), &mut m) }?;
    Ok(m)
}
