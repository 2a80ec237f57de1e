// SPDX-License-Identifier: GPL-2.0

//! What this module reads of a VMA that upstream's [`VmaRef`] does not offer.

use kernel::mm::virt::VmaRef;

/// What this module adds to [`VmaRef`].
pub(crate) trait VmaRefExt {
    /// The offset in the mapped file, in pages, of the start of the VMA (`vm_pgoff`).
    fn pgoff(&self) -> usize;
}

impl VmaRefExt for VmaRef {
    fn pgoff(&self) -> usize {
        // SAFETY: The VMA is read-locked (type invariants of `VmaRef`), so no one writes the
        // field concurrently.
        unsafe { (*self.as_ptr()).vm_pgoff }
    }
}
