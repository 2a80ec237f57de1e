// SPDX-License-Identifier: GPL-2.0

//! The operations of a VMA mapped page by page on fault ([`PageOps`]): the driver's `fault`
//! handler hands the core a page, or maps a window of them itself.

use super::operations::{map_nothing, Callbacks, VmOperations};
use super::vm_fault::{FaultResult, VmFault};
use core::marker::PhantomData;
use kernel::bindings;

// Out-of-line versions of static inline C functions, from `helpers/vma_ops.c`.
#[expect(
    improper_ctypes,
    reason = "`struct page` ends in a zero-length array; only pointers to it are passed"
)]
extern "C" {
    fn vmdev_helper_get_page(page: *mut bindings::page);
}

/// Builds the `struct vm_operations_struct` of a VMA mapped page by page on fault, for the
/// [`VmOperations`] `T`. Valid while any VMA uses it, as every table of [`Callbacks`] is.
pub(super) struct PageOps<T>(PhantomData<T>);

impl<T: VmOperations> PageOps<T> {
    /// Operations of a VMA backed by [`VmaSetup::map_on_fault`](super::VmaSetup::map_on_fault).
    pub(super) const ON_FAULT: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(Callbacks::<T>::open),
        close: Some(Callbacks::<T>::close),
        fault: Some(Self::fault),
        // Present so that faults stay under the per-VMA lock; maps nothing (see `map_nothing`).
        // That is sound because `Self::fault` only reads the VMA, the fault and the data, and
        // maps into the faulting VMA alone (`VmFault::map_window`): nothing it does needs
        // `mmap_lock`.
        map_pages: Some(map_nothing),
        ..pin_init::zeroed()
    };

    /// Also the `fault` of [`FolioOps`](super::folio_ops::FolioOps), whose VMAs' data and
    /// pages are handled alike.
    ///
    /// # Safety
    ///
    /// Called by the core for a fault in a VMA with these operations or `FolioOps`'.
    pub(super) unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The core passes a valid `vm_fault` of a VMA with these operations (or
        // `FolioOps`'), read-locked during the call.
        let fault = unsafe { VmFault::from_raw(vmf) };
        // SAFETY: The VMA has these operations and holds a reference to its data, if any.
        let Some(data) = (unsafe { Callbacks::<T>::data_ref(fault.vma().as_ptr()) }) else {
            // A VMA whose setup failed half way (see `Callbacks::data`) maps nothing.
            return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
        };
        match T::fault(data, fault) {
            FaultResult::Page(page) => {
                // SAFETY: `page` is a mappable page that outlives this call. The core locks and
                // maps `vmf->page` (or a copy of it), and drops the reference taken here when
                // it is done with it.
                unsafe {
                    vmdev_helper_get_page(page.as_ptr());
                    (*vmf).page = page.as_ptr();
                }
                0
            }
            FaultResult::Mapped(_) => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            FaultResult::SigBus => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
        }
    }
}
