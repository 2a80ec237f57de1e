// expect: error[E0080]: evaluation panicked: a VMA mapped by map_on_fault() needs a fault handler, and maps no folio by PMD
//! A VMA mapped on fault whose operations cannot answer a fault.

use crate::memory::VmallocBuffer;
use crate::vma_ops::{Backed, FaultResult, MmapVma, VmFault, VmOperations, VmaSetup};
use kernel::{prelude::*, sync::Arc};

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = VmallocBuffer;
}

/// The same operations with a fault handler.
pub(crate) struct Handled;

#[vtable]
impl VmOperations for Handled {
    type Data = VmallocBuffer;

    fn fault<'a>(_mem: &'a VmallocBuffer, _vmf: &'a VmFault) -> FaultResult<'a> {
        FaultResult::SigBus
    }
}

pub(crate) fn on_fault(vma: MmapVma<'_, Arc<VmallocBuffer>>) -> Backed<'_> {
    vma.map_on_fault::<Pages>() // twin: vma.map_on_fault::<Handled>()
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: for<'a> fn(MmapVma<'a, Arc<VmallocBuffer>>) -> Backed<'a> = on_fault;
}
