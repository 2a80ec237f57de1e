// SPDX-License-Identifier: GPL-2.0

//! `VMDEV_IOC_MM`: the kernel's own view of the caller's address space, its `mm_struct` and one
//! of its VMAs, for user space to set beside what `/proc` prints (`include/uapi/rust_vmdev.h`).

use crate::mm_view::{current_on_own_mm, MmReadLocked, VmaIdentity};
use crate::uapi::{
    VmdevMm, MM_ACTIVE, MM_FIND, MM_LOOKUP, VMA_ANON_VMA, VMA_DRIVER_FILE, VMA_DRIVER_OPS,
    VMA_FILE, VMA_FOUND,
};
use crate::vma_ops::VmaRefExt;
use kernel::{
    ioctl::{_IOC_DIR, _IOC_NR, _IOC_SIZE, _IOC_TYPE},
    prelude::*,
    uaccess::{UserPtr, UserSlice},
    uapi::{_IOC_READ, _IOC_WRITE},
    ModuleMetadata,
};
use zerocopy::FromZeros;

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
    if req.request != MM_LOOKUP && req.request != MM_FIND {
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
    let vma = if req.request == MM_LOOKUP {
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
