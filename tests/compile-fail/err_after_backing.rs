// expect: unused `Backed` that must be used
//! Failing `mmap()` after backing the VMA: the core frees the VMA without `close`, so an
//! installed reference would leak. Backing returns a `Backed` that installs the operations only
//! when `mmap()` returns it; dropping it unused is refused (and, dropped explicitly, it installs
//! nothing and gives its reference back).

use crate::memory::VmallocBuffer;
use crate::vma_ops::{Backed, FaultResult, MmapVma, VmFault, VmOperations};
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = VmallocBuffer;

    fn fault<'a>(_mem: &'a VmallocBuffer, _vmf: &'a VmFault) -> FaultResult<'a> {
        FaultResult::SigBus
    }
}

pub(crate) fn mmap(vma: MmapVma<'_>, mem: Arc<VmallocBuffer>) -> Result<Backed<'_>> {
    vma.map_on_fault::<Pages>(mem);
    Err(EINVAL)
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a>, Arc<VmallocBuffer>) -> Result<Backed<'a>> = mmap;
}
