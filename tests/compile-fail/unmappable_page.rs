// expect: error[E0308]: mismatched types
// detail: expected `MappablePage<'_>`, found `&Page`
//! Handing the core a page it cannot map: a fault answers with a `MappablePage` only, which
//! memory types create for their order-0, refcounted pages; a `kernel::page::Page` (which could
//! be a slab page, a compound page's tail...) is not one.

use crate::memory::VmallocBuffer;
use crate::vma_ops::{FaultResult, VmFault, VmOperations};
use kernel::{page::Page, prelude::*};

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = Page; // twin: type Data = VmallocBuffer;

    fn fault<'a>(page: &'a Page, _vmf: &'a VmFault) -> FaultResult<'a> { // twin: fn fault<'a>(mem: &'a VmallocBuffer, _vmf: &'a VmFault) -> FaultResult<'a> {
        FaultResult::Page(page) // twin: mem.page(0).map_or(FaultResult::SigBus, FaultResult::Page)
    }
}

/// What the driver's tables reach: the fault handler itself, through the trait.
pub(crate) fn used() {}
