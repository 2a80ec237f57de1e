// SPDX-License-Identifier: GPL-2.0

//! The operations of a VMA whose pages are those of [`Folio`](super::Folio)s, mapped on fault
//! ([`FolioOps`]): a whole folio with one PMD entry where the VMA covers an aligned span
//! ([`PmdFault`]), the faulting page where it does not.
//!
//! The VMA is neither `VM_PFNMAP` nor `VM_MIXEDMAP`: every entry maps a page with a `struct page`,
//! a reference and an rmap entry, as a page cache file's do. So the core handles it as one: a PMD
//! entry is zapped with its reference (`zap_huge_pmd()`: `vma_is_special_huge()` is false), a
//! split of the VMA across one just zaps it (`__split_huge_pmd_locked()` on a file VMA) and the
//! next touch maps pages again, `fork()` copies no entry of a shared VMA (the child faults them
//! in), and `get_user_pages()` takes the folio's reference like any page's.

use super::operations::{map_nothing, Callbacks, VmOperations};
use super::page_ops::PageOps;
use super::pmd_fault::PmdFault;
#[cfg(doc)]
use super::VmaSetup;
use core::marker::PhantomData;
use kernel::{bindings, prelude::*};

/// Builds the `struct vm_operations_struct` of a VMA backed by
/// [`VmaSetup::map_folios_on_fault`], for the [`VmOperations`] `T`: its `fault` for single
/// pages, its `huge_fault` for whole folios. Valid while any VMA uses it, as every table of
/// [`Callbacks`] is.
pub(super) struct FolioOps<T>(PhantomData<T>);

impl<T: VmOperations> FolioOps<T> {
    /// Operations of a VMA backed by [`VmaSetup::map_folios_on_fault`].
    pub(super) const ON_FAULT: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(Callbacks::<T>::open),
        close: Some(Callbacks::<T>::close),
        fault: Some(PageOps::<T>::fault),
        // Without transparent huge pages the core never calls it (no order is allowed), and
        // every page is mapped by `fault`.
        huge_fault: Some(Self::huge_fault),
        // Present so that faults stay under the per-VMA lock (see `map_nothing`). That is sound
        // because both handlers only read the VMA, the fault and the data, and map into the
        // faulting VMA alone: nothing they do needs `mmap_lock`.
        map_pages: Some(map_nothing),
        ..pin_init::zeroed()
    };

    /// # Safety
    ///
    /// Called by the core for a fault that found no PMD or PUD entry (`order` says which), in a
    /// VMA with these operations, or to make such an entry writable.
    unsafe extern "C" fn huge_fault(
        vmf: *mut bindings::vm_fault,
        order: c_uint,
    ) -> bindings::vm_fault_t {
        if order != super::folio::PMD_ORDER {
            return bindings::vm_fault_reason_VM_FAULT_FALLBACK;
        }
        // SAFETY: The core passes a valid `vm_fault` for a PMD of a VMA with these operations,
        // read-locked during the call.
        let fault = unsafe { PmdFault::from_raw(vmf) };
        // SAFETY: The VMA has these operations and holds a reference to its data, if any.
        let Some(data) = (unsafe { Callbacks::<T>::data_ref(fault.vma().as_ptr()) }) else {
            // A VMA whose setup failed half way (see `Callbacks::data`) maps nothing.
            return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
        };
        match T::huge_fault(data, fault) {
            Some(_) => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            None => bindings::vm_fault_reason_VM_FAULT_FALLBACK,
        }
    }
}
