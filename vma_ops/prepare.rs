// SPDX-License-Identifier: GPL-2.0

//! Setting up a mapping in `f_op->mmap_prepare()`: [`VmaDesc`], the description of a VMA that
//! does not exist yet, whose methods back it one way and return the [`Prepared`] the hook must
//! return; and the `vm_ops->mapped` that takes the VMA's reference to its data once it exists.
//!
//! `mmap_prepare` runs before the core has merged, allocated or inserted anything
//! (Documentation/filesystems/mmap_prepare.rst): the mapping may still fail or be merged
//! after it returns, so it must take no reference and count nothing. What `f_op->mmap` does
//! with the VMA in the driver moves to the core: the core applies the flags, the operations and
//! the action (`remap_pfn_range()` for [`VmaDesc::remap_pfns`]) to the VMA it creates, and then
//! calls `vm_ops->mapped`, where this module takes the VMA's reference to its data (from the
//! file, [`FileData`]) and calls [`VmOperations::open`].

use super::pfn_fault::{refuse_cow, remap_first_pfn, PfnOpsTable};
use super::{PfnMemory, VmOperations, VmOpsTable, VmaSetup};
use crate::memory::DeviceMemory;
use core::{ffi::c_void, marker::PhantomData};
use kernel::{
    bindings,
    mm::virt::{flags, vm_flags_t},
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ForeignOwnable,
};

// Out-of-line versions of static inline C functions, from `vmdev_helpers.c`.
#[expect(
    improper_ctypes,
    reason = "`struct vm_area_desc` holds zero-sized C structs; only pointers to it are passed"
)]
extern "C" {
    fn vmdev_helper_mmap_action_remap_full(desc: *mut bindings::vm_area_desc, pfn: c_ulong);
    fn vmdev_helper_vma_desc_flags(desc: *const bindings::vm_area_desc) -> vm_flags_t;
    fn vmdev_helper_vma_desc_set_flags(desc: *mut bindings::vm_area_desc, set: vm_flags_t);
    fn vmdev_helper_vma_desc_clear_flags(desc: *mut bindings::vm_area_desc, clear: vm_flags_t);
}

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

/// A mapping being set up by `f_op->mmap_prepare()`, before the driver has chosen how it is
/// backed, for a file whose private data is a `P`.
///
/// It offers the flag changes a driver may make; the method that picks the backing consumes it,
/// so a VMA is set up one way only.
///
/// # Invariants
///
/// `desc` is the `struct vm_area_desc` of an `mmap_prepare` call in progress, for a file whose
/// private data is a `P` (from `into_foreign`) while the file is open; nothing but this object
/// writes its flags, `vm_ops`, `private_data` or `action` during the call.
pub(crate) struct VmaDesc<'a, P> {
    desc: &'a mut bindings::vm_area_desc,
    _file_data: PhantomData<P>,
}

impl<'a, P: ForeignOwnable> VmaDesc<'a, P> {
    /// # Safety
    ///
    /// `desc` must be the descriptor of an `mmap_prepare` call in progress, valid for `'a`, of a
    /// file whose private data is a `P` while it is open, and the caller must give no other
    /// access to it than the returned object.
    pub(crate) unsafe fn from_raw(desc: *mut bindings::vm_area_desc) -> Self {
        // INVARIANT: The caller hands over the only access to the descriptor of the call.
        Self {
            // SAFETY: The caller guarantees that `desc` is valid and exclusive for 'a.
            desc: unsafe { &mut *desc },
            _file_data: PhantomData,
        }
    }

    /// Maps the whole VMA onto the page frames of the file's data's memory `M` from its page
    /// `pgoff` on: the core calls `remap_pfn_range()` once the VMA exists (`mmap_action_remap`,
    /// so nothing the driver does can fail after it), and the VMA becomes
    /// `VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP`, with `T`'s operations, which must not
    /// have a `fault` handler (checked at compile time).
    ///
    /// `EINVAL` if the VMA would reach past the end of the memory, or if it is a copy-on-write
    /// mapping (private and possibly writable), as [`super::MmapVma::remap_pfns`].
    pub(crate) fn remap_pfns<T: VmOperations, M: PfnMemory + DeviceMemory>(
        self,
    ) -> Result<Prepared<'a>>
    where
        P: FileData<T::Data>,
        T::Data: AsRef<M>,
    {
        const {
            assert!(
                !T::HAS_FAULT,
                "a VMA mapped by remap_pfns() has no fault handler: its frames are not pages"
            )
        };
        let data = self.file_data::<T::Data>();
        let mem: &M = (*data).as_ref();
        let pfn = remap_first_pfn(&self, mem)?;
        // SAFETY: `desc` is the descriptor of this `mmap_prepare` call (invariants). The range is
        // exactly the VMA, and the frames from `pfn` on, one per page of the VMA (checked by
        // `remap_first_pfn`), belong to the file's data
        // (`PfnMemory`), which every VMA keeps alive from `mapped` to `close` and the file
        // keeps alive before: the core remaps only after this hook returns, with the file open.
        // The entries are special (`VM_PFNMAP`), so the core takes no reference on their pages.
        unsafe { vmdev_helper_mmap_action_remap_full(self.desc, pfn as c_ulong) };
        Ok(self.prepared(&MappedPfnOps::<T, M, P>::REMAPPED))
    }

    /// Maps nothing now: makes the VMA `VM_MIXEDMAP`, so that its `fault` handler can insert
    /// pages itself, with `T`'s operations, whose `fault` handler maps each page on first touch
    /// (required, checked at compile time). As [`super::MmapVma::map_on_fault`].
    pub(crate) fn map_on_fault<T: VmOperations>(mut self) -> Prepared<'a>
    where
        P: FileData<T::Data>,
    {
        const {
            assert!(
                T::HAS_FAULT,
                "a VMA mapped by map_on_fault() needs a fault handler"
            )
        };
        self.set(flags::MIXEDMAP);
        self.prepared(&MappedOps::<T, P>::ON_FAULT)
    }

    /// Maps nothing now: makes the VMA `VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP`, with
    /// `T`'s `open` and `close` and fault handlers that map the frames of the file's data's
    /// memory `M` on first touch, each with the largest entry that fits. As
    /// [`super::MmapVma::map_pfns_on_fault`]: `T` must not have a `fault` handler (checked at
    /// compile time), and `EINVAL` for a copy-on-write mapping.
    pub(crate) fn map_pfns_on_fault<T: VmOperations, M: PfnMemory + DeviceMemory>(
        mut self,
    ) -> Result<Prepared<'a>>
    where
        P: FileData<T::Data>,
        T::Data: AsRef<M>,
    {
        const {
            assert!(
                !T::HAS_FAULT,
                "a VMA mapped by map_pfns_on_fault() gets its fault handlers from vma_ops"
            )
        };
        refuse_cow(&self)?;
        self.set(flags::PFNMAP | flags::IO | flags::DONTEXPAND | flags::DONTDUMP);
        Ok(self.prepared(&MappedPfnOps::<T, M, P>::ON_FAULT))
    }

    /// The data the file's VMAs refer to, borrowed from the file for this call.
    fn file_data<D>(&self) -> ArcBorrow<'_, D>
    where
        P: FileData<D>,
    {
        // SAFETY: The file is open during `mmap_prepare`, and its private data is a `P`
        // (invariants).
        P::vma_data(unsafe { P::borrow((*self.desc.file).private_data) })
    }

    /// Sets the `VM_*` flags `set` in the descriptor's flag bitmap.
    fn set(&mut self, set: vm_flags_t) {
        // SAFETY: `desc` is this call's descriptor, which only this object writes (invariants).
        unsafe { vmdev_helper_vma_desc_set_flags(self.desc, set) };
    }

    /// Installs `ops`, a table of [`MappedOps`] or [`MappedPfnOps`] whose `mapped` takes the
    /// reference to the data: until then the private data is null.
    fn prepared(self, ops: &'static bindings::vm_operations_struct) -> Prepared<'a> {
        self.desc.vm_ops = ops;
        self.desc.private_data = core::ptr::null_mut();
        Prepared(PhantomData)
    }
}

impl<P: ForeignOwnable> VmaSetup for VmaDesc<'_, P> {
    fn start(&self) -> usize {
        self.desc.start
    }

    fn end(&self) -> usize {
        self.desc.end
    }

    fn pgoff(&self) -> usize {
        self.desc.pgoff
    }

    fn flags(&self) -> vm_flags_t {
        // SAFETY: `desc` is this call's descriptor, valid for reads (invariants).
        unsafe { vmdev_helper_vma_desc_flags(self.desc) }
    }

    fn try_clear_maywrite(&mut self) -> Result {
        if self.flags() & flags::WRITE != 0 {
            return Err(EINVAL);
        }
        // SAFETY: `desc` is this call's descriptor, which only this object writes (invariants).
        unsafe { vmdev_helper_vma_desc_clear_flags(self.desc, flags::MAYWRITE) };
        Ok(())
    }

    fn set_dontexpand(&mut self) {
        self.set(flags::DONTEXPAND);
    }

    fn set_dontdump(&mut self) {
        self.set(flags::DONTDUMP);
    }
}

/// Proof that a [`VmaDesc`] was backed, which `mmap_prepare` must return: the core applies what
/// the descriptor says once the hook returns.
pub(crate) struct Prepared<'a>(PhantomData<&'a mut bindings::vm_area_desc>);

/// The operations of a VMA set up by [`VmaDesc::map_on_fault`]: [`VmOpsTable`]'s, and
/// `mapped`.
struct MappedOps<T, P>(PhantomData<(T, P)>);

impl<T: VmOperations, P: FileData<T::Data>> MappedOps<T, P> {
    const ON_FAULT: bindings::vm_operations_struct = Self::with_mapped(VmOpsTable::<T>::ON_FAULT);

    /// `ops`, and the `mapped` that takes the VMA's reference: tables of their own, since the
    /// core calls `mapped` only after `mmap_prepare` (`mmap_action_finish()`), never for a VMA set
    /// up by `f_op->mmap`, whose reference the [`super::Backed`] installs instead.
    const fn with_mapped(ops: bindings::vm_operations_struct) -> bindings::vm_operations_struct {
        bindings::vm_operations_struct {
            mapped: Some(Self::mapped),
            ..ops
        }
    }

    /// The VMA prepared with these operations exists: it takes its reference to the data, and
    /// [`VmOperations::open`] is called for it (the core calls `open` only for copies).
    ///
    /// Every backing of [`VmaDesc`] makes the VMA `VM_SPECIAL`, which the core never merges, so
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

/// The operations of a VMA set up by [`VmaDesc::remap_pfns`] or [`VmaDesc::map_pfns_on_fault`]:
/// [`PfnOpsTable`]'s, and `mapped`.
struct MappedPfnOps<T, M, P>(PhantomData<(T, M, P)>);

impl<T: VmOperations, M: PfnMemory + DeviceMemory, P: FileData<T::Data>> MappedPfnOps<T, M, P>
where
    T::Data: AsRef<M>,
{
    const REMAPPED: bindings::vm_operations_struct =
        MappedOps::<T, P>::with_mapped(PfnOpsTable::<T, M>::REMAPPED);
    const ON_FAULT: bindings::vm_operations_struct =
        MappedOps::<T, P>::with_mapped(PfnOpsTable::<T, M>::ON_FAULT);
}
