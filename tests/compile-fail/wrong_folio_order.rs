// expect: error[E0308]: mismatched types
//! A folio of another order mapped by a PMD entry, which would map pages that are not the
//! folio's (or only some of them): a PMD entry takes a `PmdFolio` alone.

use crate::vma_ops::{
    Backed, FaultResult, Folios, MmapVma, PmdFault, PmdMapped, VmFault, VmOperations, VmaSetup,
    PMD_ORDER,
};
use kernel::{prelude::*, sync::Arc};

/// Memory in folios of order 4 (64 KiB with 4 KiB pages), and in PMD-sized ones.
pub(crate) struct Mem {
    small: Folios<4>,
    pmd: Folios<PMD_ORDER>,
}

pub(crate) struct Small;

#[vtable]
impl VmOperations for Small {
    type Data = Mem;

    fn huge_fault<'a>(mem: &'a Mem, vmf: &'a PmdFault) -> Option<PmdMapped<'a>> {
        let folio = mem.small.folio_at(vmf.span_pgoff()?)?; // twin: let folio = mem.pmd.folio_at(vmf.span_pgoff()?)?;
        vmf.insert_folio(folio)
    }

    fn fault<'a>(mem: &'a Mem, vmf: &'a VmFault) -> FaultResult<'a> {
        mem.small.page(vmf.pgoff()).map_or(FaultResult::SigBus, FaultResult::Page)
    }
}

pub(crate) fn folios(vma: MmapVma<'_, Arc<Mem>>) -> Backed<'_> {
    vma.map_folios_on_fault::<Small>()
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a, Arc<Mem>>) -> Backed<'a> = folios;
}
