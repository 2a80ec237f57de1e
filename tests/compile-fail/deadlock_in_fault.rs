// expect: error[E0599]: no method named `mm` found for reference `&FaultVma`
//! Taking `mmap_lock` in a fault: a fault may hold only its VMA's own lock, while a writer holds
//! `mmap_lock` and waits for that lock, so `mmap_read_lock()` there deadlocks. A fault handler
//! sees its VMA as a `FaultVma`, not a `VmaRef`: there is no `mm()` to lock.

use crate::memory::VmallocBuffer;
use crate::vma_ops::{FaultResult, VmFault, VmOperations};
use kernel::prelude::*;

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = VmallocBuffer;

    fn fault<'a>(mem: &'a VmallocBuffer, vmf: &'a VmFault) -> FaultResult<'a> {
        let _guard = vmf.vma().mm().mmap_read_lock(); // twin: let _start = vmf.vma().start();
        mem.page(vmf.pgoff()).map_or(FaultResult::SigBus, FaultResult::Page)
    }
}

/// What the driver's tables reach: the fault handler, through the trait.
pub(crate) fn used() {}
