// expect: (builds)
//! The control: each backing used as the driver uses it, in either hook.

use crate::memory::{FolioBuffer, PhysBuffer, VmallocBuffer};
use crate::vma_ops::{
    Backed, FaultResult, MmapVma, PmdFault, PmdMapped, Prepared, VmFault, VmOperations, VmaDesc,
    VmaSetup,
};
use crate::Dev;
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Remap;

#[vtable]
impl VmOperations for Remap {
    type Data = Dev;
}

pub(crate) fn remap(vma: MmapVma<'_, Arc<Dev>>) -> Result<Backed<'_>> {
    vma.remap_pfns::<Remap, PhysBuffer>()
}

pub(crate) fn huge(vma: MmapVma<'_, Arc<Dev>>) -> Result<Backed<'_>> {
    vma.map_pfns_on_fault::<Remap, PhysBuffer>()
}

pub(crate) fn remap_prepared(desc: VmaDesc<'_, Arc<Dev>>) -> Result<Prepared<'_>> {
    desc.remap_pfns::<Remap, PhysBuffer>()
}

pub(crate) fn huge_prepared(desc: VmaDesc<'_, Arc<Dev>>) -> Result<Prepared<'_>> {
    desc.map_pfns_on_fault::<Remap, PhysBuffer>()
}

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = VmallocBuffer;

    fn fault<'a>(mem: &'a VmallocBuffer, vmf: &'a VmFault) -> FaultResult<'a> {
        match mem.page(vmf.pgoff()) {
            Some(page) => FaultResult::Page(page),
            None => FaultResult::SigBus,
        }
    }
}

pub(crate) fn on_fault(vma: MmapVma<'_, Arc<VmallocBuffer>>) -> Backed<'_> {
    vma.map_on_fault::<Pages>()
}

pub(crate) fn on_fault_prepared(desc: VmaDesc<'_, Arc<VmallocBuffer>>) -> Prepared<'_> {
    desc.map_on_fault::<Pages>()
}

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

pub(crate) fn folios(vma: MmapVma<'_, Arc<FolioBuffer>>) -> Backed<'_> {
    vma.map_folios_on_fault::<Folios>()
}

pub(crate) fn folios_prepared(desc: VmaDesc<'_, Arc<FolioBuffer>>) -> Prepared<'_> {
    desc.map_folios_on_fault::<Folios>()
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: [for<'a> fn(MmapVma<'a, Arc<Dev>>) -> Result<Backed<'a>>; 2] = [remap, huge];
    let _: for<'a> fn(MmapVma<'a, Arc<VmallocBuffer>>) -> Backed<'a> = on_fault;
    let _: [for<'a> fn(VmaDesc<'a, Arc<Dev>>) -> Result<Prepared<'a>>; 2] =
        [remap_prepared, huge_prepared];
    let _: for<'a> fn(VmaDesc<'a, Arc<VmallocBuffer>>) -> Prepared<'a> = on_fault_prepared;
    let _: for<'a> fn(MmapVma<'a, Arc<FolioBuffer>>) -> Backed<'a> = folios;
    let _: for<'a> fn(VmaDesc<'a, Arc<FolioBuffer>>) -> Prepared<'a> = folios_prepared;
}
