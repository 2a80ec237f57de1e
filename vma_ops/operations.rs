// SPDX-License-Identifier: GPL-2.0

//! The callbacks a driver writes for its VMAs ([`VmOperations`]), and the C callbacks that every
//! operations table of this module shares ([`Callbacks`], [`map_nothing`]).

use super::pfn_map::EntrySize;
use super::pmd_fault::{PmdFault, PmdMapped};
use super::vm_fault::{FaultResult, VmFault};
#[cfg(doc)]
use super::VmaSetup;
use core::marker::PhantomData;
use kernel::{
    bindings,
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ForeignOwnable,
};

/// The callbacks of a VMA, which the tables of this module call (`Callbacks`).
///
/// Each VMA that has these operations owns one reference to an `Arc<Self::Data>`, kept in its
/// `vm_private_data`, from the end of a successful `mmap()` (or the VMA's creation as a copy or
/// split) to its [`VmOperations::close`]. So the data outlives every mapping that uses it.
///
/// # Examples
///
/// Operations that count the VMAs mapping a device. The core calls `open` once for every VMA,
/// made by `mmap()`, `fork()` or a split, and `close` once for each of them, so the count is
/// exact. Without `fault`, they are operations for the PFN backings ([`VmaSetup::remap_pfns`],
/// [`VmaSetup::map_pfns_on_fault`]); [`VmFault`] shows a fault handler.
///
/// ```
/// use kernel::mm::vma_ops::VmOperations;
/// use kernel::sync::atomic::{Atomic, Relaxed};
///
/// /// What every VMA of the device refers to, through its `Arc`.
/// struct Device {
///     live_vmas: Atomic<u64>,
/// }
///
/// struct DeviceOps;
///
/// #[vtable]
/// impl VmOperations for DeviceOps {
///     type Data = Device;
///
///     fn open(dev: &Self::Data) {
///         dev.live_vmas.add(1, Relaxed);
///     }
///
///     fn close(dev: &Self::Data) {
///         dev.live_vmas.fetch_sub(1, Relaxed);
///     }
/// }
/// ```
#[vtable]
pub(crate) trait VmOperations: Sized {
    /// What every VMA of this kind refers to, e.g. the device and its memory.
    type Data: Send + Sync + 'static;

    /// A VMA got these operations: when `mmap()` succeeds (from `f_op->mmap` once it returns,
    /// from `vm_ops->mapped` with `f_op->mmap_prepare`), or as a copy of another (`fork()`, a
    /// split by partial `munmap()` or `mprotect()`, `mremap()` moving it). Called exactly once
    /// for every VMA that [`VmOperations::close`] will later be called for. It gets the data, not
    /// the VMA: a copy's page tables are not copied or moved yet, and nothing may be mapped
    /// into it here.
    fn open(_data: &Self::Data) {}

    /// A VMA is going away (`munmap()`, process exit, a `MAP_FIXED` mapping over it, or the old
    /// half of a move). It gets the data, not the VMA: the page tables are gone already, and an
    /// entry mapped now would outlive every VMA (and the memory).
    fn close(_data: &Self::Data) {}

    /// A page of a VMA backed by [`VmaSetup::map_on_fault`] or [`VmaSetup::map_folios_on_fault`]
    /// that has no page table entry was touched. Runs in process context and may sleep, under
    /// the VMA's read lock (its per-VMA lock or `mmap_lock`). Required there; not allowed with the
    /// PFN backings.
    fn fault<'a>(_data: &'a Self::Data, _vmf: &'a VmFault) -> FaultResult<'a> {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// An address of a VMA backed by [`VmaSetup::map_folios_on_fault`] whose PMD has no entry
    /// was touched, or a read-only PMD entry of a shared one was written. Runs in process context
    /// and may sleep, under the VMA's read lock. Returns the proof of
    /// [`PmdFault::insert_folio`], or `None` for the core to map the faulting page through
    /// [`VmOperations::fault`] instead. Required with that backing; not allowed with the others,
    /// whose VMAs no folio may be mapped into by PMD.
    fn huge_fault<'a>(_data: &'a Self::Data, _vmf: &'a PmdFault) -> Option<PmdMapped<'a>> {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// A fault in a VMA backed by [`VmaSetup::map_pfns_on_fault`] mapped one entry of `size`.
    /// Runs in the fault, under the VMA's read lock. When two threads fault the same entry at
    /// once, both may be told.
    fn pfns_mapped(_data: &Self::Data, _size: EntrySize) {}
}

/// The C callbacks every operations table of this module shares, for the [`VmOperations`] `T`:
/// `open`, `close`, and the lookup of a VMA's data.
///
/// The tables are constants, promoted to statics in this module's memory; the callbacks are
/// this module's code. Both stay valid while any VMA uses them, since each such VMA pins this
/// module through its file (see the module docs of `vma_ops`).
pub(super) struct Callbacks<T>(PhantomData<T>);

impl<T: VmOperations> Callbacks<T> {
    /// The data of `vma`, or `None` for a VMA that holds none: one whose setup by
    /// `mmap_prepare` failed after the core had installed its operations, and that the core then
    /// could not unmap (`mmap_action_finish()` ignores an error of its `do_munmap()`, which can
    /// fail with `-ENOMEM`). Such a VMA lives on with these operations and a null
    /// `vm_private_data`: every callback must cope with it (`open` on `fork()`, `access` from
    /// `/proc/<pid>/mem`, a fault), and the `Option` makes each one say how.
    ///
    /// # Safety
    ///
    /// `vma` must carry these operations, with a `vm_private_data` that is null or from
    /// [`ForeignOwnable::into_foreign`] of an `Arc<T::Data>` whose reference is held by a live
    /// VMA, and be at least read-locked.
    ///
    /// The VMA keeps the `Arc` in its foreign form, a pointer to the `Arc`'s allocation, not to
    /// the data ([`Arc::into_raw`]): getting back from the data to the allocation needs layout
    /// arithmetic that calls out of the module (`core`'s `Layout`, not inlined), at every
    /// `close`.
    #[inline]
    pub(super) unsafe fn data<'a>(
        vma: *mut bindings::vm_area_struct,
    ) -> Option<ArcBorrow<'a, T::Data>> {
        // SAFETY: The VMA is at least read-locked, so `vm_private_data` does not change.
        let private = unsafe { (*vma).vm_private_data };
        if private.is_null() {
            return None;
        }
        // SAFETY: The caller guarantees that a non-null pointer comes from `into_foreign` and
        // that a reference is held for at least 'a.
        Some(unsafe { <Arc<T::Data> as ForeignOwnable>::borrow(private) })
    }

    /// The data of `vma` as a plain reference, for the fault paths.
    ///
    /// # Safety
    ///
    /// As for [`Self::data`].
    #[inline]
    pub(super) unsafe fn data_ref<'a>(vma: *mut bindings::vm_area_struct) -> Option<&'a T::Data> {
        // SAFETY: As for `Self::data`, which the caller guarantees.
        let data: *const T::Data = &*unsafe { Self::data(vma) }?;
        // SAFETY: The VMA's reference keeps the data alive for 'a (the caller's guarantee); an
        // `Arc`'s data is only ever shared.
        Some(unsafe { &*data })
    }

    /// # Safety
    ///
    /// Called by the core for a new VMA copied from one with these operations.
    pub(super) unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
        // SAFETY: The new VMA was copied from a live one, so `vm_private_data` is that VMA's
        // `Arc` pointer (or null), still referenced by it; the mmap lock is held for writing.
        let Some(data) = (unsafe { Self::data(vma) }) else {
            // A copy of a VMA that holds no data (see `data`) holds none either, and its
            // `close` gives nothing back.
            return;
        };
        T::open(&data);
        // The copy owns a reference of its own, released in `close`.
        let _ = Arc::from(data).into_foreign();
    }

    /// # Safety
    ///
    /// Called by the core, once, for a VMA with these operations that is being removed.
    pub(super) unsafe extern "C" fn close(vma: *mut bindings::vm_area_struct) {
        // SAFETY: The core passes a live VMA, which only it and this table's callbacks use.
        let private = unsafe { (*vma).vm_private_data };
        // A VMA prepared by `mmap_prepare` whose `mapped` never ran (its action failed) holds no
        // reference, and was never opened: see `data`.
        if private.is_null() {
            return;
        }
        // SAFETY: The VMA owns one reference to the `Arc` in `vm_private_data` (taken when the
        // operations were installed, in `mapped`, or in `open`), which it gives up here, once.
        let data = unsafe { Arc::<T::Data>::from_foreign(private) };
        T::close(&data);
    }
}

/// `map_pages` of every VMA mapped on fault: maps nothing, and tells the core to call `fault`.
///
/// The core calls `map_pages` under `rcu_read_lock()`, where nothing may sleep. The only way to
/// insert a driver's pages, `vm_insert_pages()`, allocates a page table when the PMD has none,
/// and a concurrent `MADV_DONTNEED` can free an emptied table (`CONFIG_PT_RECLAIM`) after any
/// check made here: so the neighbours of a fault are mapped from `fault`, which may sleep
/// ([`VmFault::map_window`]). The function must exist all the same: in a VMA whose operations
/// have no `map_pages`, a fault taken under the per-VMA lock is answered with `VM_FAULT_RETRY`
/// and taken again under `mmap_lock` (`vmf_can_call_fault()` in `mm/memory.c`). The fault
/// handlers built here are safe under the per-VMA lock: they only return a page or insert pages
/// into the faulting VMA, allocating page tables as anonymous faults do.
pub(super) extern "C" fn map_nothing(
    _vmf: *mut bindings::vm_fault,
    _start_pgoff: c_ulong,
    _end_pgoff: c_ulong,
) -> bindings::vm_fault_t {
    0
}
