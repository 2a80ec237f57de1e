// expect: error[E0080]: evaluation panicked: a VMA mapped by map_on_fault() needs a fault handler, and maps no folio by PMD
//! A folio mapped by PMD into a `VM_MIXEDMAP` VMA, whose zap takes the entry for a special one
//! and keeps the folio's reference and rmap entry for ever: `huge_fault` comes with the folio
//! backing alone.

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
        mem.folios().page(vmf.pgoff()).map_or(FaultResult::SigBus, FaultResult::Page)
    }
}

pub(crate) fn mixed(vma: MmapVma<'_, Arc<FolioBuffer>>) -> Backed<'_> {
    vma.map_on_fault::<Folios>() // twin: vma.map_folios_on_fault::<Folios>()
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a, Arc<FolioBuffer>>) -> Backed<'a> = mixed;
}
