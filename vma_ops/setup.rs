// SPDX-License-Identifier: GPL-2.0

//! Setting up a VMA in `f_op->mmap()`, the classic hook: [`MmapVma`], whose methods back it one
//! way, and the [`Backed`] they return, which maps the frames of a remap and installs the
//! operations once the driver's `mmap()` has returned it.

use super::pfn_fault::{refuse_cow, remap_first_pfn, PfnOpsTable};
use super::{PfnMemory, VmOperations, VmOpsTable, VmaRefExt, VmaSetup};
use crate::memory::DeviceMemory;
use core::{ffi::c_void, mem::ManuallyDrop};
use kernel::{
    bindings,
    error::to_result,
    mm::virt::{flags, vm_flags_t, VmaNew},
    prelude::*,
    sync::Arc,
    types::ForeignOwnable,
};

// Out-of-line versions of static inline C functions, from `vmdev_helpers.c`.
#[expect(
    improper_ctypes,
    reason = "`struct vm_area_struct` holds zero-sized C structs; only pointers to it are passed"
)]
extern "C" {
    fn vmdev_helper_vma_set_flags_unlocked(vma: *mut bindings::vm_area_struct, set: vm_flags_t);
}

/// A VMA being set up by `f_op->mmap()`, before the driver has chosen how it is backed.
///
/// It offers the flag changes a driver may make ([`VmaSetup`]); the method that picks the backing
/// consumes it, so a VMA is set up one way only.
///
/// # Invariants
///
/// `vma` is a VMA being set up in `mmap()` (the [`VmaNew`] invariants), and nothing but this
/// object sets its `VM_PFNMAP` or `VM_MIXEDMAP` flags, `vm_ops` or `vm_private_data`.
pub(crate) struct MmapVma<'a> {
    vma: &'a VmaNew,
}

impl<'a> MmapVma<'a> {
    /// # Safety
    ///
    /// `vma` must be a VMA being set up by `f_op->mmap()`, valid for `'a`, and the caller must
    /// give no other access to it than the returned object (no `&VmaNew` in particular).
    pub(crate) unsafe fn from_raw(vma: *mut bindings::vm_area_struct) -> Self {
        // INVARIANT: The caller hands over the only access to a VMA being set up.
        Self {
            // SAFETY: The caller guarantees that the VMA is being set up and valid for 'a.
            vma: unsafe { VmaNew::from_raw(vma) },
        }
    }

    /// Maps the whole VMA onto the page frames of `data`'s memory `M` from its page `vm_pgoff` on,
    /// with `remap_pfn_range()` (the VMA becomes `VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP`),
    /// once the driver's `mmap()` has returned the [`Backed`] this returns, which then also
    /// installs `T`'s operations; they must not have a `fault` handler (checked at compile time).
    ///
    /// The frames are mapped only then, after the driver's `mmap()` has returned, and the
    /// reference to `data` is held throughout, by the `Backed` and then by the VMA: nothing the
    /// driver does (failing `mmap()`, dropping the `Backed`) can free the frames under a live
    /// mapping.
    ///
    /// `EINVAL` if the VMA would reach past the end of the memory, or if it is a copy-on-write
    /// mapping (private and possibly writable): `remap_pfn_range()` would then store the
    /// physical page number in `vm_pgoff`, which `/proc/<pid>/maps` shows to user space.
    pub(crate) fn remap_pfns<T: VmOperations, M: PfnMemory + DeviceMemory>(
        self,
        data: Arc<T::Data>,
    ) -> Result<Backed<'a>>
    where
        T::Data: AsRef<M>,
    {
        const {
            assert!(
                !T::HAS_FAULT,
                "a VMA mapped by remap_pfns() has no fault handler: its frames are not pages"
            )
        };
        let mem: &M = (*data).as_ref();
        let pfn = remap_first_pfn(&self, mem)?;
        Ok(self.backed::<T>(&PfnOpsTable::<T, M>::REMAPPED, data, Some(pfn)))
    }

    /// Maps nothing now: makes the VMA `VM_MIXEDMAP`, so that its `fault` handler can insert
    /// pages itself ([`VmFault::map_window`]), and returns the [`Backed`] that installs `T`'s
    /// operations, whose `fault` handler maps each page on first touch (required, checked at
    /// compile time).
    pub(crate) fn map_on_fault<T: VmOperations>(self, data: Arc<T::Data>) -> Backed<'a> {
        const {
            assert!(
                T::HAS_FAULT,
                "a VMA mapped by map_on_fault() needs a fault handler"
            )
        };
        self.vma.set_mixedmap();
        self.backed::<T>(&VmOpsTable::<T>::ON_FAULT, data, None)
    }

    /// Maps nothing now: makes the VMA `VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP` and
    /// returns the [`Backed`] that installs `T`'s `open` and `close` with fault handlers that
    /// map the frames of `data`'s memory `M` on first touch, each with the largest entry that
    /// fits ([`EntrySize`]); `T` must not have a `fault` handler (checked at compile time), and
    /// hears of each entry through [`VmOperations::pfns_mapped`].
    ///
    /// `EINVAL` if it is a copy-on-write mapping (private and possibly writable), which PFN
    /// mappings cannot be. A page outside the memory gets `SIGBUS` when touched.
    pub(crate) fn map_pfns_on_fault<T: VmOperations, M: PfnMemory + DeviceMemory>(
        self,
        data: Arc<T::Data>,
    ) -> Result<Backed<'a>>
    where
        T::Data: AsRef<M>,
    {
        const {
            assert!(
                !T::HAS_FAULT,
                "a VMA mapped by map_pfns_on_fault() gets its fault handlers from vma_ops"
            )
        };
        refuse_cow(&self)?;
        let set = flags::PFNMAP | flags::IO | flags::DONTEXPAND | flags::DONTDUMP;
        // SAFETY: The VMA is being set up, not in the VMA tree yet and not shared (invariants),
        // so it needs no lock. `VM_PFNMAP` is valid here: the VMA is not `VM_MIXEDMAP` (only
        // `map_on_fault` sets that, and it consumes `self`) and not copy-on-write (checked above).
        unsafe { vmdev_helper_vma_set_flags_unlocked(self.vma.as_ptr(), set) };
        Ok(self.backed::<T>(&PfnOpsTable::<T, M>::ON_FAULT, data, None))
    }

    /// The [`Backed`] that remaps the VMA from `remap_pfn` on, if given, and installs `ops`, a
    /// table for `T`, and a reference to `data` when `mmap()` returns it.
    fn backed<T: VmOperations>(
        self,
        ops: &'static bindings::vm_operations_struct,
        data: Arc<T::Data>,
        remap_pfn: Option<usize>,
    ) -> Backed<'a> {
        // INVARIANT: `ops` is a table built for `T`, `data` the `Arc` of a `T::Data` turned into a
        // pointer, and `open` and `release` the functions for `T`; the VMA is being set up. The
        // callers pass a `remap_pfn` only for a VMA that `remap_first_pfn()` checked against
        // `data`'s memory.
        Backed {
            vma: self.vma,
            ops,
            data: data.into_foreign(),
            remap_pfn,
            open: open_data::<T>,
            release: release_data::<T>,
        }
    }
}

/// A VMA that [`MmapVma`] backed, waiting for the driver's `mmap()` to return it: then (only
/// then) the frames of [`MmapVma::remap_pfns`] are mapped, the operations and their reference to
/// the data are installed, and [`VmOperations::open`] is called for it.
///
/// Nothing is mapped before that, so a driver that fails `mmap()` after backing the VMA leaves
/// nothing behind: dropped, this gives the reference back and installs nothing (the core frees a
/// VMA whose `mmap()` failed without calling `close`). Dropping it by mistake is flagged all the
/// same (`#[must_use]`, with the module's `-D warnings`): the mapping would fail.
///
/// # Invariants
///
/// `vma` is a VMA being set up in `mmap()`; `ops` is a table built for some
/// `T: VmOperations`, `data` a pointer from `into_foreign` of an `Arc<T::Data>` that this
/// object owns, and `open` and `release` are [`open_data::<T>`] and [`release_data::<T>`].
/// `remap_pfn`, if any, is the first of the frames, one per page of the VMA, of the memory
/// that `data` owns (`PfnMemory`), at the VMA's `vm_pgoff`; the VMA is then not `VM_MIXEDMAP`
/// and not copy-on-write.
#[must_use = "return it from mmap(): dropped, it installs nothing and the mapping fails"]
pub(crate) struct Backed<'a> {
    vma: &'a VmaNew,
    ops: &'static bindings::vm_operations_struct,
    data: *mut c_void,
    remap_pfn: Option<usize>,
    open: unsafe fn(*mut c_void),
    release: unsafe fn(*mut c_void),
}

impl Backed<'_> {
    /// Maps the frames of a remap, installs the operations and the reference to the data in the
    /// VMA, and calls [`VmOperations::open`] for it: the VMA is now mapped, and its `close` will
    /// give the reference back. On an error (`remap_pfn_range()` could not allocate a page
    /// table), nothing is mapped (`remap_pfn_range()` zaps what it mapped before it fails) or
    /// installed, and the reference is given back.
    ///
    /// # Safety
    ///
    /// Only `f_op->mmap`'s trampoline may call it, with the `Backed` that the driver's `mmap`
    /// returned, and must then return what this returns to the core, running no driver code in
    /// between: a VMA whose `mmap()` fails is freed without `close`, which would leak the
    /// reference, and a frame mapped here must stay owned by the VMA.
    pub(crate) unsafe fn install(self) -> Result {
        if let Some(pfn) = self.remap_pfn {
            let vma = self.vma;
            // SAFETY: The VMA is being set up in `mmap()` with the mmap lock held for writing, and
            // it is not `VM_MIXEDMAP` nor copy-on-write (invariants). The range is exactly the
            // VMA, and the frames from `pfn` on, one per page of the VMA, belong to `data`
            // (invariants); the entries are special (`VM_PFNMAP`), so the core takes no
            // reference on their pages. On success the VMA owns the reference to `data` from
            // here on (installed below, with no driver code in between), so the memory outlives
            // the entries; on failure `remap_pfn_range()` has zapped its partial remap, and the
            // reference is dropped with `self` after that.
            to_result(unsafe {
                bindings::remap_pfn_range(
                    vma.as_ptr(),
                    vma.start() as c_ulong,
                    pfn as c_ulong,
                    vma.end() - vma.start(),
                    (*vma.as_ptr()).vm_page_prot,
                )
            })?;
        }
        let this = ManuallyDrop::new(self);
        // SAFETY: `data` is an `Arc<T::Data>` pointer of the `T` that `open` is for
        // (invariants), alive: this object owns its reference.
        unsafe { (this.open)(this.data) };
        // SAFETY: The VMA is being set up in `mmap()` (invariants), so it is not yet visible to
        // anyone else. `ops` is a table for `T`, valid while the VMA lives (see `VmOpsTable`);
        // the private data carries the reference that `close` gives back, as `VmOpsTable`
        // expects. The reference moves from this object (not dropped) to the VMA.
        unsafe {
            let vma = this.vma.as_ptr();
            (*vma).vm_private_data = this.data;
            (*vma).vm_ops = this.ops;
        }
        Ok(())
    }
}

impl Drop for Backed<'_> {
    fn drop(&mut self) {
        // SAFETY: This object owns the reference (invariants), and gives it up once, here.
        unsafe { (self.release)(self.data) };
    }
}

/// [`VmOperations::open`] of `T` for the VMA [`Backed`] installs.
///
/// # Safety
///
/// `data` must come from `into_foreign` of an `Arc<T::Data>` whose reference is held.
unsafe fn open_data<T: VmOperations>(data: *mut c_void) {
    // SAFETY: The caller guarantees that `data` is a live `Arc<T::Data>` in its foreign form.
    let data = unsafe { <Arc<T::Data> as ForeignOwnable>::borrow(data) };
    T::open(&data);
}

/// Gives back the reference of a [`Backed`] that was never installed.
///
/// # Safety
///
/// `data` must come from `into_foreign` of an `Arc<T::Data>`, whose reference the caller owns
/// and gives up.
unsafe fn release_data<T: VmOperations>(data: *mut c_void) {
    // SAFETY: The caller gives up a reference from `into_foreign` of this type.
    drop(unsafe { Arc::<T::Data>::from_foreign(data) });
}

impl VmaSetup for MmapVma<'_> {
    fn start(&self) -> usize {
        self.vma.start()
    }

    fn end(&self) -> usize {
        self.vma.end()
    }

    fn pgoff(&self) -> usize {
        VmaRefExt::pgoff(&**self.vma)
    }

    fn flags(&self) -> vm_flags_t {
        self.vma.flags()
    }

    fn try_clear_maywrite(&mut self) -> Result {
        self.vma.try_clear_maywrite()
    }

    fn set_dontexpand(&mut self) {
        self.vma.set_dontexpand()
    }

    fn set_dontdump(&mut self) {
        self.vma.set_dontdump()
    }
}
