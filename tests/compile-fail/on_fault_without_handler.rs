// expect: a VMA mapped by map_on_fault() needs a fault handler
//! A VMA mapped on fault whose operations cannot answer a fault.

use crate::memory::VmallocBuffer;
use crate::vma_ops::{Backed, MmapVma, VmOperations};
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = VmallocBuffer;
}

pub(crate) fn on_fault(vma: MmapVma<'_>, mem: Arc<VmallocBuffer>) -> Backed<'_> {
    vma.map_on_fault::<Pages>(mem)
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a>, Arc<VmallocBuffer>) -> Backed<'a> = on_fault;
}
