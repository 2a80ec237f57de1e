// expect: error[E0080]: evaluation panicked: a VMA mapped by remap_pfns() has no fault handler
//! A fault handler on a PFN-mapped VMA, whose inserted pages no zap would release.

use crate::memory::PhysBuffer;
use crate::vma_ops::{Backed, FaultResult, MmapVma, VmFault, VmOperations, VmaSetup};
use crate::Dev;
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Remap;

#[vtable]
impl VmOperations for Remap {
    type Data = Dev;

    fn fault<'a>(_dev: &'a Dev, _vmf: &'a VmFault) -> FaultResult<'a> {
        FaultResult::SigBus
    }
}

pub(crate) fn remap(vma: MmapVma<'_, Arc<Dev>>) -> Result<Backed<'_>> {
    vma.remap_pfns::<Remap, PhysBuffer>() // twin: Ok(vma.map_on_fault::<Remap>())
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a, Arc<Dev>>) -> Result<Backed<'a>> = remap;
}
