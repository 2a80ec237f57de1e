// expect: error[E0599]: no method named `as_mixedmap_vma` found for reference `&FaultVma`
//! Mapping a page from a fault by another way than the two the fault path checks (a
//! `MappablePage` returned, or `VmFault::map_window`): the VMA a handler sees is a `FaultVma`,
//! which has no `as_mixedmap_vma()` and so no `vm_insert_page()` of any `Page`.

use crate::memory::VmallocBuffer;
use crate::vma_ops::{FaultResult, VmFault, VmOperations};
use kernel::prelude::*;

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = VmallocBuffer;

    fn fault<'a>(mem: &'a VmallocBuffer, vmf: &'a VmFault) -> FaultResult<'a> {
        let _mixed = vmf.vma().as_mixedmap_vma(); // twin: let _flags = vmf.vma().flags();
        mem.page(vmf.pgoff()).map_or(FaultResult::SigBus, FaultResult::Page)
    }
}

/// What the driver's tables reach: the fault handler, through the trait.
pub(crate) fn used() {}
