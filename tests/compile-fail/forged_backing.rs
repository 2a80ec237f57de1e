// expect: error[E0603]: module `vma_setup` is private
//! Remapping frames the memory does not own, by handing a hook a backing of one's own making:
//! only `VmaSetup`'s four backings make a `Backing`, after checking the frames against the
//! memory, and only `vma_ops` can name the type or the `Hook` that applies one.

use crate::memory::PhysBuffer;
use crate::vma_ops::{Backed, MmapVma, VmOperations, VmaSetup};
use crate::Dev;
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Remap;

#[vtable]
impl VmOperations for Remap {
    type Data = Dev;
}

pub(crate) fn remap(vma: MmapVma<'_, Arc<Dev>>) -> Result<Backed<'_>> {
    let _forged: Option<crate::vma_ops::vma_setup::Backing> = None; // twin:
    vma.remap_pfns::<Remap, PhysBuffer>()
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a, Arc<Dev>>) -> Result<Backed<'a>> = remap;
}
