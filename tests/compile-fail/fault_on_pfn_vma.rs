// expect: a VMA mapped by remap_pfns() has no fault handler
//! A fault handler on a PFN-mapped VMA, whose inserted pages no zap would release.

use crate::memory::PhysBuffer;
use crate::Dev;
use crate::vma_ops::{Backed, Fault, NewVma, VmFault, VmOperations};
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Remap;

#[vtable]
impl VmOperations for Remap {
    type Data = Dev;

    fn fault<'a>(_dev: &'a Dev, _vmf: &'a VmFault) -> Fault<'a> {
        Fault::SigBus
    }
}

pub(crate) fn remap(vma: NewVma<'_>, dev: Arc<Dev>) -> Result<Backed<'_>> {
    vma.remap_pfns::<Remap, PhysBuffer>(dev)
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(NewVma<'a>, Arc<Dev>) -> Result<Backed<'a>> = remap;
}
