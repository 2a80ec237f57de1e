// expect: error[E0080]: evaluation panicked: a VMA mapped by map_folios_on_fault() needs fault and huge_fault handlers
//! A folio-backed VMA whose operations cannot map a folio whole: every fault would map one page,
//! the fault node's cost with none of its batching.

use crate::memory::FolioBuffer;
use crate::vma_ops::{
    Backed, FaultResult, MmapVma, PmdFault, PmdMapped, VmFault, VmOperations, VmaSetup,
};
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = FolioBuffer;

    fn fault<'a>(mem: &'a FolioBuffer, vmf: &'a VmFault) -> FaultResult<'a> {
        mem.folios().page(vmf.pgoff()).map_or(FaultResult::SigBus, FaultResult::Page)
    }
}

/// The same operations with a PMD handler.
pub(crate) struct Whole;

#[vtable]
impl VmOperations for Whole {
    type Data = FolioBuffer;

    fn huge_fault<'a>(mem: &'a FolioBuffer, vmf: &'a PmdFault) -> Option<PmdMapped<'a>> {
        vmf.insert_folio(mem.folios().folio_at(vmf.span_pgoff()?)?)
    }

    fn fault<'a>(mem: &'a FolioBuffer, vmf: &'a VmFault) -> FaultResult<'a> {
        Pages::fault(mem, vmf)
    }
}

pub(crate) fn folios(vma: MmapVma<'_, Arc<FolioBuffer>>) -> Backed<'_> {
    vma.map_folios_on_fault::<Pages>() // twin: vma.map_folios_on_fault::<Whole>()
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a, Arc<FolioBuffer>>) -> Backed<'a> = folios;
}
