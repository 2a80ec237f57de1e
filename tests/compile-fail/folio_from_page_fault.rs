// expect: error[E0599]: no method named `insert_folio` found for reference `&'a VmFault` in the current scope
//! A folio mapped by PMD from the 4 KiB `fault`, where the VMA may be `VM_MIXEDMAP` (the fault
//! node's) and the PMD a page table already: only a `PmdFault`, which the folio backing alone
//! makes, inserts a folio.

use crate::memory::FolioBuffer;
use crate::vma_ops::{
    Backed, FaultResult, MmapVma, PmdFault, PmdMapped, VmFault, VmOperations, VmaSetup,
};
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Folios;

#[vtable]
impl VmOperations for Folios {
    type Data = FolioBuffer;

    fn huge_fault<'a>(mem: &'a FolioBuffer, vmf: &'a PmdFault) -> Option<PmdMapped<'a>> {
        vmf.insert_folio(mem.folios().folio_at(vmf.span_pgoff()?)?)
    }

    fn fault<'a>(mem: &'a FolioBuffer, vmf: &'a VmFault) -> FaultResult<'a> {
        if let Some(folio) = mem.folios().folio_at(vmf.pgoff()) { // twin:
            let _ = vmf.insert_folio(folio); // twin:
        } // twin:
        mem.folios().page(vmf.pgoff()).map_or(FaultResult::SigBus, FaultResult::Page)
    }
}

pub(crate) fn folios(vma: MmapVma<'_, Arc<FolioBuffer>>) -> Backed<'_> {
    vma.map_folios_on_fault::<Folios>()
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a, Arc<FolioBuffer>>) -> Backed<'a> = folios;
}
