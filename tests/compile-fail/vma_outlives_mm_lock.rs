// expect: error[E0505]: cannot move out of `locked` because it is borrowed
//! Using a VMA after the mmap lock is given back: the VMA may be unmapped and freed by then. A VMA
//! found through `MmReadLocked` borrows it, and the lock goes only when it is dropped.

use crate::mm_view::MmReadLocked;
use kernel::prelude::*;

/// What a driver's `ioctl()` would do.
pub(crate) fn used() {
    let task = kernel::current!();
    let Some(locked) = MmReadLocked::current(task) else {
        return;
    };
    let vma = locked.find_vma(0);
    drop(locked); // twin:
    let _start = vma.map(|v| v.start());
}
