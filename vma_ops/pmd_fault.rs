// SPDX-License-Identifier: GPL-2.0

//! A fault on a PMD of a VMA whose pages are those of [`Folio`](super::Folio)s, as the driver's
//! `huge_fault` sees it ([`PmdFault`]): it maps a whole [`PmdFolio`] with one entry, or nothing.

use super::folio::PmdFolio;
use super::vm_fault::{FaultVma, VmFault};
#[cfg(doc)]
use super::{folio_ops::FolioOps, operations::VmOperations, VmaSetup};
use core::marker::PhantomData;
use kernel::{bindings, page::PAGE_SHIFT};

/// A fault that found no PMD entry at an address of a VMA backed by
/// [`VmaSetup::map_folios_on_fault`], or a write through a read-only PMD entry of a shared one:
/// what [`VmOperations::huge_fault`] gets. It maps a whole [`PmdFolio`] or nothing
/// ([`PmdFault::insert_folio`]); the core then maps the faulting page through `fault`.
///
/// Only that backing's operations make one, so a folio is never mapped by PMD into a `VM_PFNMAP`
/// or `VM_MIXEDMAP` VMA, whose zap would skip its reference and rmap entry
/// (`folio_in_mixed_vma.rs` in `tests/compile-fail/`).
///
/// # Invariants
///
/// The fault is a PMD fault of a VMA with the operations of the folio backing (`FolioOps`),
/// neither `VM_PFNMAP` nor `VM_MIXEDMAP`, read-locked for the life of this object.
#[repr(transparent)]
pub(crate) struct PmdFault(VmFault);

impl PmdFault {
    /// # Safety
    ///
    /// `ptr` must be the `struct vm_fault` passed to `huge_fault` for a PMD of a VMA with the
    /// operations of [`FolioOps`], valid for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::vm_fault) -> &'a Self {
        // SAFETY: `PmdFault` is a transparent `VmFault`, whose requirements the caller meets.
        unsafe { &*core::ptr::from_ref(VmFault::from_raw(ptr)).cast::<Self>() }
    }

    /// The VMA the fault is in.
    #[inline]
    pub(crate) fn vma(&self) -> &FaultVma {
        self.0.vma()
    }

    /// The offset in the mapped file, in pages, of the first page of the PMD span around the
    /// faulting address, if the VMA covers the whole span; `None` if it does not.
    #[inline]
    pub(crate) fn span_pgoff(&self) -> Option<usize> {
        let vma = self.vma();
        let start = self.0.address() & !(PmdFolio::SIZE - 1);
        if start < vma.start() || vma.end() - start < PmdFolio::SIZE {
            return None;
        }
        vma.pgoff().checked_add((start - vma.start()) >> PAGE_SHIFT)
    }

    /// Maps `folio` whole at the PMD span around the faulting address, with one PMD entry that
    /// holds one reference and one rmap entry for all its pages (`vmf_insert_folio_pmd()`).
    ///
    /// Which folio belongs at the span's file offset ([`PmdFault::span_pgoff`]) is the driver's
    /// to say. Returns the proof to answer the fault with; `None`, having mapped nothing, if the
    /// VMA does not cover the span, or if the fault is a write to a private mapping, where the
    /// core maps a copy of the faulting page instead (`fault` hands it the page).
    #[inline]
    pub(crate) fn insert_folio(&self, folio: &PmdFolio) -> Option<PmdMapped<'_>> {
        if self.0.is_cow() {
            return None;
        }
        self.span_pgoff()?;
        self.insert(folio)
    }

    #[cfg(CONFIG_TRANSPARENT_HUGEPAGE)]
    #[inline]
    fn insert(&self, folio: &PmdFolio) -> Option<PmdMapped<'_>> {
        // SAFETY: A PMD fault in progress in a VMA that is neither `VM_PFNMAP` nor `VM_MIXEDMAP`
        // (invariants), whose PMD span around the address it covers (checked by the caller), so
        // the entry maps inside the VMA; `folio` is a live folio of `PMD_ORDER` (its type). The
        // core takes the entry's own reference and rmap entry, dropped when it is zapped.
        let ret = unsafe {
            bindings::vmf_insert_folio_pmd(self.0.as_raw(), folio.as_ptr(), self.0.is_write())
        };
        (ret == bindings::vm_fault_reason_VM_FAULT_NOPAGE).then_some(PmdMapped {
            _fault: PhantomData,
        })
    }

    /// Without transparent huge pages the core never calls `huge_fault`, so no `PmdFault` is
    /// ever made: nothing to map.
    #[cfg(not(CONFIG_TRANSPARENT_HUGEPAGE))]
    fn insert(&self, _folio: &PmdFolio) -> Option<PmdMapped<'_>> {
        None
    }
}

/// Proof that [`PmdFault::insert_folio`] mapped the PMD span of a fault (or found it mapped).
///
/// It borrows the fault it proves, so a handler can only return it from that fault.
pub(crate) struct PmdMapped<'a> {
    _fault: PhantomData<&'a PmdFault>,
}
