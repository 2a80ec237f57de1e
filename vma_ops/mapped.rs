// SPDX-License-Identifier: GPL-2.0

//! `vm_ops->mapped`, where a VMA set up by `f_op->mmap_prepare` takes its reference to its data
//! once the core has created it: from the file's private data ([`FileData`]), since nothing may
//! be referenced in `mmap_prepare`, when the mapping may still fail or merge.

use super::folio_ops::FolioOps;
use super::operations::VmOperations;
use super::page_ops::PageOps;
use super::pfn_map::PfnMemory;
use super::pfn_ops::PfnOps;
#[cfg(doc)]
use super::{Backed, VmaSetup};
use core::{ffi::c_void, marker::PhantomData};
use kernel::{
    bindings,
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ForeignOwnable,
};

/// A file's private data, from which the VMAs that map the file take their reference to `D`.
///
/// In `mmap_prepare` no VMA exists yet, so nothing may be referenced for it; `vm_ops->mapped`,
/// which the core calls once the VMA exists, gets the file, and takes the VMA's reference from
/// the file's data. The file is open during `mmap()` and during every call of `mapped`.
pub(crate) trait FileData<D>: ForeignOwnable {
    /// The data the VMAs of a file with private data `this` refer to.
    fn vma_data<'a>(this: Self::Borrowed<'a>) -> ArcBorrow<'a, D>;
}

/// A file whose private data is the `Arc` of what its VMAs refer to (a device, say).
impl<D: Send + Sync + 'static> FileData<D> for Arc<D> {
    fn vma_data<'a>(this: Self::Borrowed<'a>) -> ArcBorrow<'a, D> {
        this
    }
}

/// The operations of a VMA backed by [`VmaSetup::map_on_fault`] or
/// [`VmaSetup::map_folios_on_fault`] in `mmap_prepare`: [`PageOps`]'s or [`FolioOps`]'s, and
/// `mapped`.
pub(super) struct PreparedOps<T, P>(PhantomData<(T, P)>);

impl<T: VmOperations, P: FileData<T::Data>> PreparedOps<T, P> {
    pub(super) const ON_FAULT: bindings::vm_operations_struct =
        Self::with_mapped(PageOps::<T>::ON_FAULT);
    pub(super) const FOLIOS_ON_FAULT: bindings::vm_operations_struct =
        Self::with_mapped(FolioOps::<T>::ON_FAULT);

    /// `ops`, and the `mapped` that takes the VMA's reference: tables of their own, since the
    /// core calls `mapped` only after `mmap_prepare` (`mmap_action_finish()`), never for a VMA set
    /// up by `f_op->mmap`, whose reference the [`Backed`] installs instead.
    const fn with_mapped(ops: bindings::vm_operations_struct) -> bindings::vm_operations_struct {
        bindings::vm_operations_struct {
            mapped: Some(Self::mapped),
            ..ops
        }
    }

    /// The VMA prepared with these operations exists: it takes its reference to the data, and
    /// [`VmOperations::open`] is called for it (the core calls `open` only for copies).
    ///
    /// Every backing of [`VmaSetup`] makes the VMA `VM_SPECIAL`, which the core never merges, so
    /// this runs for every VMA that gets these operations, unless the VMA is unmapped first
    /// because its action failed (`remap_pfn_range()` could not allocate a page table): then
    /// `close` finds the private data still null, and gives nothing back.
    ///
    /// # Safety
    ///
    /// Called by the core, with the mmap lock held for writing, for a new VMA with these
    /// operations that maps `file`, whose private data is a `P` (the file is open).
    unsafe extern "C" fn mapped(
        _start: c_ulong,
        _end: c_ulong,
        _pgoff: c_ulong,
        file: *const bindings::file,
        vm_private_data: *mut *mut c_void,
    ) -> c_int {
        // SAFETY: The file of a VMA prepared by `VmaDesc<P>` has private data of type `P` while
        // it is open, and the VMA holds it open.
        let data: Arc<T::Data> = P::vma_data(unsafe { P::borrow((*file).private_data) }).into();
        T::open(&data);
        // SAFETY: `vm_private_data` points to the new VMA's private data, which the core stores.
        // The VMA owns this reference from now on, and gives it back in `close`.
        unsafe { *vm_private_data = data.into_foreign() };
        0
    }
}

/// The operations of a VMA backed by [`VmaSetup::remap_pfns`] or [`VmaSetup::map_pfns_on_fault`]
/// in `mmap_prepare`: [`PfnOps`]'s, and `mapped`.
pub(super) struct PreparedPfnOps<T, M, P>(PhantomData<(T, M, P)>);

impl<T: VmOperations, M: PfnMemory, P: FileData<T::Data>> PreparedPfnOps<T, M, P>
where
    T::Data: AsRef<M>,
{
    pub(super) const REMAPPED: bindings::vm_operations_struct =
        PreparedOps::<T, P>::with_mapped(PfnOps::<T, M>::REMAPPED);
    pub(super) const ON_FAULT: bindings::vm_operations_struct =
        PreparedOps::<T, P>::with_mapped(PfnOps::<T, M>::ON_FAULT);
}
