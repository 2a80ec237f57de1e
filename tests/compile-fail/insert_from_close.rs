// expect: error[E0050]: method `close` has 2 parameters but the declaration in trait
//! Inserting a page from `close`, which runs once the page tables are gone: the entry would
//! outlive every VMA. `open` and `close` get the data only, no VMA to insert into.

use crate::memory::VmallocBuffer;
use crate::vma_ops::{FaultResult, VmFault, VmOperations};
use kernel::{mm::virt::VmaRef, prelude::*}; // twin: use kernel::prelude::*;

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = VmallocBuffer;

    fn close(mem: &VmallocBuffer, vma: &VmaRef) { // twin: fn close(mem: &VmallocBuffer) {
        if let (Some(vma), Some(page)) = (vma.as_mixedmap_vma(), mem.page(0)) { // twin: if let Some(page) = mem.page(0) {
            let _ = (vma, page); // twin: let _ = page;
        }
    }

    fn fault<'a>(_mem: &'a VmallocBuffer, _vmf: &'a VmFault) -> FaultResult<'a> {
        FaultResult::SigBus
    }
}

/// What the driver's tables reach: the operations, through the trait.
pub(crate) fn used() {}
