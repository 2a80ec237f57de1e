// SPDX-License-Identifier: GPL-2.0

//! `VMDEV_IOC_MM`: the kernel's own view of the caller's address space, its `mm_struct` and one
//! of its VMAs, for user space to set beside what `/proc` prints (`include/uapi/rust_vmdev.h`).

use crate::mm_view::{current_on_own_mm, MmReadLocked, VmaIdentity};
use crate::vma_ops::VmaRefExt;
use kernel::{
    ioctl::{_IOC_DIR, _IOC_NR, _IOC_SIZE, _IOC_TYPE},
    prelude::*,
    uaccess::{UserPtr, UserSlice},
    uapi::{_IOC_READ, _IOC_WRITE},
    ModuleMetadata,
};
use zerocopy::FromZeros;

/// `struct vmdev_mm`, the request and the answer.
#[derive(FromBytes, IntoBytes, zerocopy_derive::Immutable)]
#[repr(C)]
struct VmdevMm {
    size: u32,
    request: u32,
    addr: u64,
    mm_users: u32,
    mm_count: u32,
    map_count: u32,
    mm_flags: u32,
    total_vm: u64,
    locked_vm: u64,
    pinned_vm: u64,
    data_vm: u64,
    exec_vm: u64,
    stack_vm: u64,
    start_code: u64,
    end_code: u64,
    start_data: u64,
    end_data: u64,
    start_brk: u64,
    brk: u64,
    start_stack: u64,
    arg_start: u64,
    arg_end: u64,
    env_start: u64,
    env_end: u64,
    mmap_base: u64,
    vm_start: u64,
    vm_end: u64,
    vm_pgoff: u64,
    vm_flags: u64,
    vma: u32,
    pad: u32,
}

// `VMDEV_MM_SIZE_VER0`, which `vmdev_helpers.c` asserts too; the derives prove there is no
// padding. This driver knows the first version only.
const _: () = assert!(size_of::<VmdevMm>() == 216);

/// `VMDEV_MM_LOOKUP`: the VMA containing `addr`.
const LOOKUP: u32 = 0;
/// `VMDEV_MM_FIND`: the first VMA ending above `addr`.
const FIND: u32 = 1;
/// `vmdev_mm.mm_flags`: the caller's `active_mm` is its `mm`.
const MM_ACTIVE: u32 = 1 << 0;
/// `vmdev_mm.vma` bits.
const VMA_FOUND: u32 = 1 << 0;
const VMA_FILE: u32 = 1 << 1;
const VMA_DRIVER_FILE: u32 = 1 << 2;
const VMA_DRIVER_OPS: u32 = 1 << 3;
const VMA_ANON_VMA: u32 = 1 << 4;

/// Whether `cmd` is `VMDEV_IOC_MM`: `_IOWR('V', 2, ...)` of any size, so that a caller built
/// against a later, longer `struct vmdev_mm` is answered too (and a shorter one refused).
pub(crate) fn is_mm_request(cmd: u32) -> bool {
    _IOC_TYPE(cmd) == u32::from(b'V')
        && _IOC_NR(cmd) == 2
        && _IOC_DIR(cmd) == _IOC_READ | _IOC_WRITE
}

/// Answers `VMDEV_IOC_MM` at the user address `arg`.
pub(crate) fn answer(cmd: u32, arg: usize) -> Result<isize> {
    if _IOC_SIZE(cmd) < size_of::<VmdevMm>() {
        return Err(EINVAL);
    }
    // The first version's bytes only: the rest of a longer struct is the caller's to keep.
    let (mut reader, mut writer) =
        UserSlice::new(UserPtr::from_addr(arg), size_of::<VmdevMm>()).reader_writer();
    let mut req = VmdevMm::new_zeroed();
    reader.read_slice(req.as_mut_bytes())?;
    let addr = usize::try_from(req.addr).map_err(|_| EINVAL)?;
    if req.request != LOOKUP && req.request != FIND {
        return Err(EINVAL);
    }

    let task = current!();
    // Every process has an address space; only kernel threads, which cannot call this, lack one.
    let locked = MmReadLocked::current(task).ok_or(EINVAL)?;
    let f = locked.fields();
    let mut ans = VmdevMm {
        size: size_of::<VmdevMm>() as u32,
        request: req.request,
        addr: req.addr,
        mm_users: f.mm_users,
        mm_count: f.mm_count,
        map_count: f.map_count,
        mm_flags: if current_on_own_mm(task) {
            MM_ACTIVE
        } else {
            0
        },
        total_vm: f.total_vm,
        locked_vm: f.locked_vm,
        pinned_vm: f.pinned_vm,
        data_vm: f.data_vm,
        exec_vm: f.exec_vm,
        stack_vm: f.stack_vm,
        start_code: f.start_code,
        end_code: f.end_code,
        start_data: f.start_data,
        end_data: f.end_data,
        start_brk: f.start_brk,
        brk: f.brk,
        start_stack: f.start_stack,
        arg_start: f.arg_start,
        arg_end: f.arg_end,
        env_start: f.env_start,
        env_end: f.env_end,
        mmap_base: f.mmap_base,
        ..VmdevMm::new_zeroed()
    };
    let vma = if req.request == LOOKUP {
        locked.vma_lookup(addr)
    } else {
        locked.find_vma(addr)
    };
    if let Some(vma) = vma {
        let module = &<crate::LocalModule as ModuleMetadata>::THIS_MODULE;
        ans.vm_start = vma.start() as u64;
        ans.vm_end = vma.end() as u64;
        ans.vm_pgoff = vma.pgoff() as u64;
        ans.vm_flags = vma.flags() as u64;
        let bit = |on: bool, bit: u32| if on { bit } else { 0 };
        ans.vma = VMA_FOUND
            | bit(vma.has_file(), VMA_FILE)
            | bit(vma.file_of(module), VMA_DRIVER_FILE)
            | bit(vma.ops_of(module), VMA_DRIVER_OPS)
            | bit(vma.has_anon_vma(), VMA_ANON_VMA);
    }
    // The lock is not held across the copy to user space, which may fault on this very mm.
    drop(locked);
    writer.write_slice(ans.as_bytes())?;
    Ok(0)
}
