// expect: error[E0080]: evaluation panicked: a VMA mapped by map_pfns_on_fault() gets its fault handlers from vma_ops
//! A folio mapped by PMD into a `VM_PFNMAP` VMA, whose zap takes the entry for a special one and
//! keeps the folio's reference and rmap entry for ever: the PFN backings take no `huge_fault`.

use crate::memory::{FolioBuffer, PhysBuffer};
use crate::vma_ops::{
    Backed, FaultResult, MmapVma, PmdFault, PmdMapped, VmFault, VmOperations, VmaSetup,
};
use kernel::{prelude::*, sync::Arc};

/// Both memories: the frames a PFN backing maps, and the folios.
pub(crate) struct Mem {
    phys: PhysBuffer,
    folios: FolioBuffer,
}

impl AsRef<PhysBuffer> for Mem {
    fn as_ref(&self) -> &PhysBuffer {
        &self.phys
    }
}

pub(crate) struct Folios;

#[vtable]
impl VmOperations for Folios {
    type Data = Mem;

    fn huge_fault<'a>(mem: &'a Mem, vmf: &'a PmdFault) -> Option<PmdMapped<'a>> {
        vmf.insert_folio(mem.folios.folios().folio_at(vmf.span_pgoff()?)?)
    }

    fn fault<'a>(mem: &'a Mem, vmf: &'a VmFault) -> FaultResult<'a> {
        mem.folios.folios().page(vmf.pgoff()).map_or(FaultResult::SigBus, FaultResult::Page)
    }
}

pub(crate) fn pfn(vma: MmapVma<'_, Arc<Mem>>) -> Result<Backed<'_>> {
    vma.map_pfns_on_fault::<Folios, PhysBuffer>() // twin: Ok(vma.map_folios_on_fault::<Folios>())
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a, Arc<Mem>>) -> Result<Backed<'a>> = pfn;
}
