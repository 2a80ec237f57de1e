// SPDX-License-Identifier: GPL-2.0

//! What this module reads of a VMA that upstream's [`VmaRef`] does not offer.

use kernel::mm::virt::VmaRef;

/// What this module adds to [`VmaRef`].
///
/// # Examples
///
/// ```
/// use kernel::mm::{virt::VmaRef, vma_ops::VmaRefExt};
/// use kernel::page::PAGE_SHIFT;
///
/// /// The page of the mapped file that `addr`, an address in `vma`, maps.
/// fn file_page(vma: &VmaRef, addr: usize) -> usize {
///     // `vm_pgoff` is the file page at the VMA's start; each page of the VMA maps the next.
///     vma.pgoff() + ((addr - vma.start()) >> PAGE_SHIFT)
/// }
/// ```
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
