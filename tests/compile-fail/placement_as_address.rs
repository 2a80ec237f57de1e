// expect: error[E0308]: mismatched types
// detail: expected `Placement`, found `usize`
//! Choosing the address of a new mapping, which could put it over another: `get_unmapped_area`
//! answers with a placement policy, and the core picks a free range by it.

use crate::chardev::Placement;
use kernel::prelude::*;

pub(crate) fn get_unmapped_area(_addr: usize, _len: usize, _pgoff: usize) -> Placement {
    _addr // twin: Placement::CongruentToOffset
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: fn(usize, usize, usize) -> Placement = get_unmapped_area;
}
