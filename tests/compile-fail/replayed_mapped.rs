// expect: error[E0521]: borrowed data escapes outside of associated function
// detail: argument requires that `'a` must outlive `'static`
//! Keeping the proof that a fault mapped its page, to return it from a later fault: the core
//! would be told a page is mapped when nothing is, and the access would fault forever.
//! `WindowMapped` borrows the fault it proves.

use crate::memory::VmallocBuffer;
use crate::vma_ops::{FaultResult, VmFault, VmOperations, WindowMapped};
use kernel::prelude::*;

/// Somewhere to keep a proof past its fault.
fn keep(_proof: WindowMapped<'static>) {}

pub(crate) struct Pages;

#[vtable]
impl VmOperations for Pages {
    type Data = VmallocBuffer;

    fn fault<'a>(mem: &'a VmallocBuffer, vmf: &'a VmFault) -> FaultResult<'a> {
        match vmf.map_window(4, mem.pages()) {
            Some(proof) => {
                keep(proof); // twin: drop(proof);
                FaultResult::SigBus
            }
            None => FaultResult::SigBus,
        }
    }
}

/// What the driver's tables reach: the fault handler, through the trait.
pub(crate) fn used() {}
