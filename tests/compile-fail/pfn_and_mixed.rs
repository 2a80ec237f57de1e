// expect: error[E0382]: use of moved value: `vma`
//! A VMA both VM_PFNMAP and VM_MIXEDMAP: backing it consumes the `MmapVma`, so it cannot be
//! backed a second way.

use crate::memory::PhysBuffer;
use crate::vma_ops::{Backed, FaultResult, MmapVma, VmFault, VmOperations, VmaSetup};
use crate::Dev;
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Remap;

#[vtable]
impl VmOperations for Remap {
    type Data = Dev;
}

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = Dev;

    fn fault<'a>(_dev: &'a Dev, _vmf: &'a VmFault) -> FaultResult<'a> {
        FaultResult::SigBus
    }
}

pub(crate) fn both(vma: MmapVma<'_, Arc<Dev>>) -> Result<Backed<'_>> {
    let _remapped = vma.remap_pfns::<Remap, PhysBuffer>()?; // twin:
    Ok(vma.map_on_fault::<Pages>())
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a, Arc<Dev>>) -> Result<Backed<'a>> = both;
}
