// expect: error[E0382]: use of moved value: `desc`
//! In `mmap_prepare` too, a mapping both VM_PFNMAP and VM_MIXEDMAP: backing it consumes the
//! `VmaDesc`, so it cannot be backed a second way.

use crate::memory::PhysBuffer;
use crate::vma_ops::{FaultResult, Prepared, VmFault, VmOperations, VmaDesc, VmaSetup};
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

pub(crate) fn both(desc: VmaDesc<'_, Arc<Dev>>) -> Result<Prepared<'_>> {
    let _remapped = desc.remap_pfns::<Remap, PhysBuffer>()?; // twin:
    Ok(desc.map_on_fault::<Pages>())
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(VmaDesc<'a, Arc<Dev>>) -> Result<Prepared<'a>> = both;
}
