//! The Rust mirror of `include/uapi/rust_vmdev.h`; `tests/uapi.rs` checks it against the header.

use std::os::fd::{AsFd, AsRawFd};

/// The node of the physically contiguous device (mapped with `remap_pfn_range`).
pub const REMAP_PATH: &str = "/dev/vmdev-remap";
/// The node of the vmalloc device (mapped on fault).
pub const FAULT_PATH: &str = "/dev/vmdev-fault";
/// The node that maps the remap device's memory on fault, with huge entries where aligned.
pub const HUGE_PATH: &str = "/dev/vmdev-huge";

/// `vmdev_info.backing` of the remap device.
pub const BACKING_REMAP: u32 = 1;
/// `vmdev_info.backing` of the fault device.
pub const BACKING_FAULT: u32 = 2;
/// `vmdev_info.backing` of the huge device.
pub const BACKING_HUGE: u32 = 3;
/// `vmdev_info.flags`: a fault maps the window around it (see [`fault_window_bytes`]).
pub const FLAG_FAULT_AROUND: u32 = 1 << 0;
/// `vmdev_info.flags`: the memory is a range reserved at boot.
pub const FLAG_BOOT_RESERVED: u32 = 1 << 1;
/// `vmdev_info.flags` of the huge device: the kernel can map PMD entries.
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
