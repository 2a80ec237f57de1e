// expect: error: unused `Backed` that must be used
//! Dropping a `Backed` by mistake: the mapping would fail. A lint, not a rule of the types:
//! dropped (explicitly, or on this lint's `allow`), a `Backed` maps nothing, installs nothing
//! and gives its reference back, so failing `mmap()` after backing is sound either way.

use crate::memory::VmallocBuffer;
use crate::vma_ops::{Backed, FaultResult, MmapVma, VmFault, VmOperations, VmaSetup};
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = VmallocBuffer;

    fn fault<'a>(_mem: &'a VmallocBuffer, _vmf: &'a VmFault) -> FaultResult<'a> {
        FaultResult::SigBus
    }
}

pub(crate) fn mmap(vma: MmapVma<'_, Arc<VmallocBuffer>>) -> Result<Backed<'_>> {
    vma.map_on_fault::<Pages>(); // twin: let backed = vma.map_on_fault::<Pages>();
    Err(EINVAL) // twin: Ok(backed)
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a, Arc<VmallocBuffer>>) -> Result<Backed<'a>> = mmap;
}
