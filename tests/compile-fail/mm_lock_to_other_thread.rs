// expect: error[E0277]: `*mut ()` cannot be sent between threads safely
//! Giving the mmap read lock to another thread, which would unlock a lock it does not hold:
//! `MmReadLocked` holds upstream's `MmapReadGuard`, which is not `Send`.

use crate::mm_view::MmReadLocked;
use kernel::prelude::*;

/// Stands for anything that moves a value to another thread (a work item, a kthread).
fn to_another_thread<T: Send>(_value: T) {}

/// What a driver's `ioctl()` would do.
pub(crate) fn used() {
    let task = kernel::current!();
    let Some(locked) = MmReadLocked::current(task) else {
        return;
    };
    to_another_thread(locked); // twin: drop(locked);
}
