// expect: error[E0423]: cannot initialize a tuple struct which contains private fields
//! `mmap_prepare` succeeding without backing the mapping (no operations, no flags: the VMA would
//! be an anonymous-looking mapping of a device): only the methods that back a `VmaDesc` make
//! the `Prepared` the hook must return.

use crate::memory::PhysBuffer;
use crate::vma_ops::{Prepared, VmOperations, VmaDesc};
// twin: use crate::vma_ops::VmaSetup;
use crate::Dev;
use core::marker::PhantomData;
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Remap;

#[vtable]
impl VmOperations for Remap {
    type Data = Dev;
}

pub(crate) fn mmap_prepare(_desc: VmaDesc<'_, Arc<Dev>>) -> Result<Prepared<'_>> {
    Ok(Prepared(PhantomData)) // twin: _desc.remap_pfns::<Remap, PhysBuffer>()
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(VmaDesc<'a, Arc<Dev>>) -> Result<Prepared<'a>> = mmap_prepare;
}
