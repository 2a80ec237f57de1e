// expect: error[E0277]: the trait bound `Arc<VmallocBuffer>: FileData<Dev>` is not satisfied
//! In `mmap_prepare` a VMA takes its reference to its data from the file, in `vm_ops->mapped`:
//! operations whose data is not what the file holds do not compile (here the file holds only
//! the vmalloc buffer, and the operations want the device).

use crate::memory::{PhysBuffer, VmallocBuffer};
use crate::vma_ops::{Prepared, VmOperations, VmaDesc, VmaSetup};
use crate::Dev;
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Remap;

#[vtable]
impl VmOperations for Remap {
    type Data = Dev;
}

pub(crate) fn mmap_prepare(desc: VmaDesc<'_, Arc<VmallocBuffer>>) -> Result<Prepared<'_>> { // twin: pub(crate) fn mmap_prepare(desc: VmaDesc<'_, Arc<Dev>>) -> Result<Prepared<'_>> {
    desc.remap_pfns::<Remap, PhysBuffer>()
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(VmaDesc<'a, Arc<VmallocBuffer>>) -> Result<Prepared<'a>> = mmap_prepare; // twin: let _: for<'a> fn(VmaDesc<'a, Arc<Dev>>) -> Result<Prepared<'a>> = mmap_prepare;
}
