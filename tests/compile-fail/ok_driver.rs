// expect: (builds)
//! The control: each backing used as the driver uses it.

use crate::memory::{PhysBuffer, VmallocBuffer};
use crate::Dev;
use crate::vma_ops::{Backed, Fault, NewVma, VmFault, VmOperations};
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Remap;

#[vtable]
impl VmOperations for Remap {
    type Data = Dev;
}

pub(crate) fn remap(vma: NewVma<'_>, dev: Arc<Dev>) -> Result<Backed<'_>> {
    vma.remap_pfns::<Remap, PhysBuffer>(dev)
}

pub(crate) fn huge(vma: NewVma<'_>, dev: Arc<Dev>) -> Result<Backed<'_>> {
    vma.map_pfns_on_fault::<Remap, PhysBuffer>(dev)
}

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = VmallocBuffer;

    fn fault<'a>(mem: &'a VmallocBuffer, vmf: &'a VmFault) -> Fault<'a> {
        match mem.page(vmf.pgoff()) {
            Some(page) => Fault::Page(page),
            None => Fault::SigBus,
        }
    }
}

pub(crate) fn on_fault(vma: NewVma<'_>, mem: Arc<VmallocBuffer>) -> Backed<'_> {
    vma.map_on_fault::<Pages>(mem)
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: [for<'a> fn(NewVma<'a>, Arc<Dev>) -> Result<Backed<'a>>; 2] = [remap, huge];
    let _: for<'a> fn(NewVma<'a>, Arc<VmallocBuffer>) -> Backed<'a> = on_fault;
}
