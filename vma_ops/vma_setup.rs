// SPDX-License-Identifier: GPL-2.0

//! A mapping being set up, in either hook ([`VmaSetup`]): what a driver may read and change of
//! it, and the four ways to back it, each written once for both hooks. What differs between the
//! hooks (when the frames are remapped, where the VMA's reference to its data is taken) is the
//! hook's own, in `mmap.rs` and `mmap_prepare.rs`.

use super::folio_ops::FolioOps;
use super::mapped::{FileData, PreparedOps, PreparedPfnOps};
use super::operations::VmOperations;
use super::page_ops::PageOps;
use super::pfn_map::PfnMemory;
use super::pfn_ops::PfnOps;
#[cfg(doc)]
use super::{
    folio::Folio, pfn_map::EntrySize, pmd_fault::PmdFault, vm_fault::VmFault, Backed, MmapVma,
    Prepared, VmaDesc,
};
use kernel::{
    bindings,
    mm::virt::{flags, vm_flags_t},
    page::PAGE_SHIFT,
    prelude::*,
    sync::ArcBorrow,
    types::ForeignOwnable,
};

/// How a mapping is backed: what one of [`VmaSetup`]'s four backings decided, for the hook to
/// apply. Only those methods make one (its fields are private to `vma_ops`), and a hook applies
/// it to the mapping they were called on.
///
/// # Invariants
///
/// For the [`VmOperations`] `T` the hook's `back::<T>` is called with: `mmap_ops` is a table
/// built for `T`, and `prepare_ops` the same with the `mapped` of the file's private data `P`.
/// `set` is `VM_MIXEDMAP` (with the page tables of [`PageOps`]), or
/// `VM_DONTEXPAND | VM_HUGEPAGE` (with the tables of [`FolioOps`], whose pages are all
/// refcounted), or
/// `VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP` for a mapping that is not copy-on-write
/// (with [`PfnOps`]), or nothing (a remap, whose flags the core's remap sets). `remap_pfn`, if
/// any, is the first of the frames, one per page of the mapping, of the memory that `T::Data`
/// owns ([`PfnMemory`]), at the mapping's `vm_pgoff`, and the mapping is not copy-on-write.
pub(crate) struct Backing {
    pub(super) set: vm_flags_t,
    pub(super) remap_pfn: Option<usize>,
    pub(super) mmap_ops: &'static bindings::vm_operations_struct,
    pub(super) prepare_ops: &'static bindings::vm_operations_struct,
}

/// The half of [`VmaSetup`] each hook implements, out of the driver's reach: `vma_ops` alone can
/// name this trait, so only its two hooks' types are a `VmaSetup`, and only the backings call
/// [`Hook::back`].
pub(crate) trait Hook<P: ForeignOwnable> {
    /// What the hook returns once the mapping is backed: a [`Backed`] from `f_op->mmap`, a
    /// [`Prepared`] from `f_op->mmap_prepare`.
    type Backed;

    /// The data the file's VMAs refer to, borrowed from the file for this call.
    fn file_data<D>(&self) -> ArcBorrow<'_, D>
    where
        P: FileData<D>;

    /// Applies `backing` for the operations `T`.
    fn back<T: VmOperations>(self, backing: Backing) -> Self::Backed
    where
        P: FileData<T::Data>;
}

/// A mapping being set up, in either hook, of a file whose private data is a `P`: a [`MmapVma`]
/// in `f_op->mmap`, a [`VmaDesc`] in `f_op->mmap_prepare`.
///
/// It offers the flag changes a driver may make, and four ways to back the mapping, which
/// consume it, so that a mapping is backed one way only. The VMA takes its reference to the
/// operations' data from the file (`P` must hold it: [`FileData`]).
///
/// # Examples
///
/// The setup of a device's mappings, written once for both hooks: `V` is a [`MmapVma`] when
/// `f_op->mmap` calls it, a [`VmaDesc`] when `f_op->mmap_prepare` does, and `V::Backed` the
/// [`Backed`] or [`Prepared`] that hook returns. The files' private data is the `Arc<Device>`
/// the VMAs will refer to, and the device lends the backing its memory through `AsRef`.
///
/// ```
/// use kernel::mm::vma_ops::{VmOperations, VmaSetup};
/// use kernel::page::PAGE_SHIFT;
/// use kernel::sync::Arc;
/// # use kernel::mm::vma_ops::PfnMemory;
/// # struct Frames;
/// # // SAFETY: An example's: nothing maps it.
/// # unsafe impl PfnMemory for Frames {
/// #     fn first_pfn(&self) -> usize { 0 }
/// #     fn page_count(&self) -> usize { 0 }
/// #     fn read_into(&self, _: usize, _: &mut [u8]) -> usize { 0 }
/// #     fn write_from(&self, _: usize, _: &[u8]) -> usize { 0 }
/// # }
///
/// /// A device, and its memory: `Frames`, a `PfnMemory` of `pages` pages.
/// struct Device {
///     mem: Frames,
///     pages: usize,
/// }
///
/// impl AsRef<Frames> for Device {
///     fn as_ref(&self) -> &Frames {
///         &self.mem
///     }
/// }
///
/// struct DeviceOps;
///
/// #[vtable]
/// impl VmOperations for DeviceOps {
///     type Data = Device;
/// }
///
/// fn back<V: VmaSetup<Arc<Device>>>(vma: V, dev: &Device) -> Result<V::Backed> {
///     // A page past the memory would get `SIGBUS` when touched: refuse it at `mmap()`. The
///     // offset and the length are user space's, so the sum is checked.
///     let pages = (vma.end() - vma.start()) >> PAGE_SHIFT;
///     let end = vma.pgoff().checked_add(pages).ok_or(EINVAL)?;
///     if end > dev.pages {
///         return Err(EINVAL);
///     }
///     // The backing consumes `vma`: a mapping is backed once, and changed no more.
///     vma.map_pfns_on_fault::<DeviceOps, Frames>()
/// }
/// ```
pub(crate) trait VmaSetup<P: ForeignOwnable>: Hook<P> + Sized {
    /// The first address the mapping will cover.
    fn start(&self) -> usize;

    /// The address just past the mapping.
    fn end(&self) -> usize;

    /// The offset in the mapped file, in pages, of the start of the mapping (`vm_pgoff`).
    fn pgoff(&self) -> usize;

    /// Its `VM_*` flags.
    fn flags(&self) -> vm_flags_t;

    /// Makes the mapping unable to ever become writable (`VM_MAYWRITE` cleared); `EINVAL` if it
    /// is writable already.
    fn try_clear_maywrite(&mut self) -> Result;

    /// `VM_DONTEXPAND`: `mremap()` cannot grow the VMA.
    fn set_dontexpand(&mut self);

    /// `VM_DONTDUMP`: core dumps leave the VMA out.
    fn set_dontdump(&mut self);

    /// Maps the whole VMA onto the page frames of the file's data's memory `M` from its page
    /// `vm_pgoff` on, with `remap_pfn_range()`: the VMA becomes
    /// `VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP`, with `T`'s operations, which must not
    /// have a `fault` handler (checked at compile time). The frames are mapped once the hook has
    /// returned (by the [`Backed`], or by the core's action after `mmap_prepare`), while the
    /// file or the [`Backed`] holds the data: nothing the driver does can free them under a live
    /// mapping.
    ///
    /// `EINVAL` if the VMA would reach past the end of the memory, or if it is a copy-on-write
    /// mapping (private and possibly writable): `remap_pfn_range()` would then store the
    /// physical page number in `vm_pgoff`, which `/proc/<pid>/maps` shows to user space.
    ///
    /// # Examples
    ///
    /// A `Device` whose memory, `Frames` (some [`PfnMemory`]; `Device: AsRef<Frames>`), is
    /// mapped whole at `mmap()`: its operations have no `fault`, and the range needs no check of
    /// the driver's.
    ///
    /// ```
    /// use kernel::mm::vma_ops::{VmOperations, VmaSetup};
    /// use kernel::sync::Arc;
    /// # use kernel::mm::vma_ops::PfnMemory;
    /// # struct Frames;
    /// # // SAFETY: An example's: nothing maps it.
    /// # unsafe impl PfnMemory for Frames {
    /// #     fn first_pfn(&self) -> usize { 0 }
    /// #     fn page_count(&self) -> usize { 0 }
    /// #     fn read_into(&self, _: usize, _: &mut [u8]) -> usize { 0 }
    /// #     fn write_from(&self, _: usize, _: &[u8]) -> usize { 0 }
    /// # }
    /// # struct Device { mem: Frames }
    /// # impl AsRef<Frames> for Device {
    /// #     fn as_ref(&self) -> &Frames { &self.mem }
    /// # }
    ///
    /// struct RemapOps;
    ///
    /// #[vtable]
    /// impl VmOperations for RemapOps {
    ///     type Data = Device;
    /// }
    ///
    /// fn back<V: VmaSetup<Arc<Device>>>(vma: V) -> Result<V::Backed> {
    ///     // The frames of `Device::mem` from file page `vm_pgoff` on, one per page of the VMA:
    ///     // `EINVAL` if they would run past its end, or if the mapping is copy-on-write.
    ///     vma.remap_pfns::<RemapOps, Frames>()
    /// }
    /// ```
    fn remap_pfns<T, M>(self) -> Result<Self::Backed>
    where
        T: VmOperations,
        M: PfnMemory,
        T::Data: AsRef<M>,
        P: FileData<T::Data>,
    {
        const {
            assert!(
                !T::HAS_FAULT && !T::HAS_HUGE_FAULT,
                "a VMA mapped by remap_pfns() has no fault handler: its frames are not pages"
            )
        };
        let data = self.file_data::<T::Data>();
        let pfn = remap_first_pfn(&self, AsRef::<M>::as_ref(&*data))?;
        // INVARIANT: The tables are `T`'s; `pfn` was checked against the memory of the data
        // the file holds, which is what the VMA will refer to.
        let backing = Backing {
            set: 0,
            remap_pfn: Some(pfn),
            mmap_ops: &PfnOps::<T, M>::REMAPPED,
            prepare_ops: &PreparedPfnOps::<T, M, P>::REMAPPED,
        };
        Ok(self.back::<T>(backing))
    }

    /// Maps nothing now: makes the VMA `VM_MIXEDMAP`, so that its `fault` handler can insert
    /// pages itself ([`VmFault::map_window`]), with `T`'s operations, whose `fault` handler maps
    /// each page on first touch (required, checked at compile time).
    ///
    /// # Examples
    ///
    /// A `Buffer` whose pages (`Buffer::page(i)`, a [`MappablePage`](super::MappablePage) for
    /// file page `i`) are mapped one at a time, as they are touched:
    ///
    /// ```
    /// use kernel::mm::vma_ops::{FaultResult, MappablePage, VmFault, VmOperations, VmaSetup};
    /// use kernel::sync::Arc;
    /// # struct Buffer;
    /// # impl Buffer {
    /// #     fn page(&self, _: usize) -> Option<MappablePage<'_>> { None }
    /// # }
    ///
    /// struct FaultOps;
    ///
    /// #[vtable]
    /// impl VmOperations for FaultOps {
    ///     type Data = Buffer;
    ///
    ///     // The page at the fault's file offset, which the core maps; `SIGBUS` past the end.
    ///     fn fault<'a>(buf: &'a Self::Data, vmf: &'a VmFault) -> FaultResult<'a> {
    ///         buf.page(vmf.pgoff())
    ///             .map_or(FaultResult::SigBus, FaultResult::Page)
    ///     }
    /// }
    ///
    /// fn back<V: VmaSetup<Arc<Buffer>>>(mut vma: V) -> V::Backed {
    ///     // `mremap()` cannot grow the VMA, and core dumps leave it out.
    ///     vma.set_dontexpand();
    ///     vma.set_dontdump();
    ///     vma.map_on_fault::<FaultOps>()
    /// }
    /// ```
    fn map_on_fault<T>(self) -> Self::Backed
    where
        T: VmOperations,
        P: FileData<T::Data>,
    {
        const {
            assert!(
                T::HAS_FAULT && !T::HAS_HUGE_FAULT,
                "a VMA mapped by map_on_fault() needs a fault handler, and maps no folio by PMD"
            )
        };
        // INVARIANT: The tables are `T`'s; `VM_MIXEDMAP` goes with the page-by-page tables.
        let backing = Backing {
            set: flags::MIXEDMAP,
            remap_pfn: None,
            mmap_ops: &PageOps::<T>::ON_FAULT,
            prepare_ops: &PreparedOps::<T, P>::ON_FAULT,
        };
        self.back::<T>(backing)
    }

    /// Maps nothing now: the VMA's pages are pages of [`Folio`]s, mapped on first touch by `T`'s
    /// handlers, both required (checked at compile time): `huge_fault` maps a whole folio with
    /// one PMD entry where the VMA covers the aligned span ([`PmdFault::insert_folio`]), `fault`
    /// hands the core the faulting page elsewhere, and for a write to a private mapping, which
    /// is copy-on-write. The VMA is `VM_DONTEXPAND | VM_HUGEPAGE` (PMD entries are asked for where
    /// the transparent huge page setting is `madvise`) and neither `VM_PFNMAP` nor `VM_MIXEDMAP`:
    /// every entry holds a reference, so `get_user_pages()`, `O_DIRECT` and copy-on-write work
    /// on it as on a file's pages.
    ///
    /// # Examples
    ///
    /// A `Buffer` of PMD-sized folios (a [`Folios`](super::Folios) of
    /// [`PMD_ORDER`](super::PMD_ORDER)), mapped a folio per fault where the mapping allows:
    ///
    /// ```
    /// use kernel::mm::vma_ops::{
    ///     FaultResult, Folios, PmdFault, PmdMapped, VmFault, VmOperations, VmaSetup, PMD_ORDER,
    /// };
    /// use kernel::sync::Arc;
    ///
    /// struct Buffer {
    ///     folios: Folios<PMD_ORDER>,
    /// }
    ///
    /// struct BufferOps;
    ///
    /// #[vtable]
    /// impl VmOperations for BufferOps {
    ///     type Data = Buffer;
    ///
    ///     // The folio whose first page is the span's file page, if there is one.
    ///     fn huge_fault<'a>(buf: &'a Self::Data, vmf: &'a PmdFault) -> Option<PmdMapped<'a>> {
    ///         let folio = buf.folios.folio_at(vmf.span_pgoff()?)?;
    ///         vmf.insert_folio(folio)
    ///     }
    ///
    ///     // Elsewhere, the page at the fault's file offset; `SIGBUS` past the end.
    ///     fn fault<'a>(buf: &'a Self::Data, vmf: &'a VmFault) -> FaultResult<'a> {
    ///         buf.folios
    ///             .page(vmf.pgoff())
    ///             .map_or(FaultResult::SigBus, FaultResult::Page)
    ///     }
    /// }
    ///
    /// fn back<V: VmaSetup<Arc<Buffer>>>(vma: V) -> V::Backed {
    ///     vma.map_folios_on_fault::<BufferOps>()
    /// }
    /// ```
    fn map_folios_on_fault<T>(self) -> Self::Backed
    where
        T: VmOperations,
        P: FileData<T::Data>,
    {
        const {
            assert!(
                T::HAS_FAULT && T::HAS_HUGE_FAULT,
                "a VMA mapped by map_folios_on_fault() needs fault and huge_fault handlers"
            )
        };
        // INVARIANT: The tables are `T`'s; `VM_DONTEXPAND` and `VM_HUGEPAGE` go with the folio
        // tables. Since 7.3 the transparent huge page setting governs PMD entries of a file VMA
        // too (`vma_file_allow_thp_tuneables()`): `VM_HUGEPAGE`, what `MADV_HUGEPAGE` sets, asks
        // for them where the setting is `madvise`; `never`, `MADV_NOHUGEPAGE` or
        // `PR_SET_THP_DISABLE` still turn them off.
        let backing = Backing {
            set: flags::DONTEXPAND | flags::HUGEPAGE,
            remap_pfn: None,
            mmap_ops: &FolioOps::<T>::ON_FAULT,
            prepare_ops: &PreparedOps::<T, P>::FOLIOS_ON_FAULT,
        };
        self.back::<T>(backing)
    }

    /// Maps nothing now: makes the VMA `VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP`, with
    /// `T`'s `open` and `close` and fault handlers that map the frames of the file's data's
    /// memory `M` on first touch, each with the largest entry that fits ([`EntrySize`]). `T`
    /// must not have a `fault` handler (checked at compile time), and hears of each entry
    /// through [`VmOperations::pfns_mapped`].
    ///
    /// `EINVAL` if it is a copy-on-write mapping (private and possibly writable), which PFN
    /// mappings cannot be. A page outside the memory gets `SIGBUS` when touched.
    ///
    /// # Examples
    ///
    /// A `Device` whose memory, `Frames` (some [`PfnMemory`]), is mapped with huge entries
    /// where they fit, and that counts them:
    ///
    /// ```
    /// use kernel::mm::virt::flags;
    /// use kernel::mm::vma_ops::{EntrySize, VmOperations, VmaSetup};
    /// use kernel::sync::{
    ///     atomic::{Atomic, Relaxed},
    ///     Arc,
    /// };
    /// # use kernel::mm::vma_ops::PfnMemory;
    /// # struct Frames;
    /// # // SAFETY: An example's: nothing maps it.
    /// # unsafe impl PfnMemory for Frames {
    /// #     fn first_pfn(&self) -> usize { 0 }
    /// #     fn page_count(&self) -> usize { 0 }
    /// #     fn read_into(&self, _: usize, _: &mut [u8]) -> usize { 0 }
    /// #     fn write_from(&self, _: usize, _: &[u8]) -> usize { 0 }
    /// # }
    ///
    /// struct Device {
    ///     mem: Frames,
    ///     huge_entries: Atomic<u64>,
    /// }
    /// # impl AsRef<Frames> for Device {
    /// #     fn as_ref(&self) -> &Frames { &self.mem }
    /// # }
    ///
    /// struct HugeOps;
    ///
    /// #[vtable]
    /// impl VmOperations for HugeOps {
    ///     type Data = Device;
    ///
    ///     // Told of every entry a fault maps (no `fault` of its own: this module maps them).
    ///     fn pfns_mapped(dev: &Self::Data, size: EntrySize) {
    ///         if size != EntrySize::Pte {
    ///             dev.huge_entries.add(1, Relaxed);
    ///         }
    ///     }
    /// }
    ///
    /// fn back<V: VmaSetup<Arc<Device>>>(mut vma: V) -> Result<V::Backed> {
    ///     // A private mapping that may become writable would be copy-on-write (`EINVAL`):
    ///     // make a private one read-only for good, which fails if it is writable already.
    ///     if vma.flags() & flags::SHARED == 0 {
    ///         vma.try_clear_maywrite()?;
    ///     }
    ///     vma.map_pfns_on_fault::<HugeOps, Frames>()
    /// }
    /// ```
    fn map_pfns_on_fault<T, M>(self) -> Result<Self::Backed>
    where
        T: VmOperations,
        M: PfnMemory,
        T::Data: AsRef<M>,
        P: FileData<T::Data>,
    {
        const {
            assert!(
                !T::HAS_FAULT && !T::HAS_HUGE_FAULT,
                "a VMA mapped by map_pfns_on_fault() gets its fault handlers from vma_ops"
            )
        };
        refuse_cow(&self)?;
        // INVARIANT: The tables are `T`'s, and the mapping is not copy-on-write.
        let backing = Backing {
            set: flags::PFNMAP | flags::IO | flags::DONTEXPAND | flags::DONTDUMP,
            remap_pfn: None,
            mmap_ops: &PfnOps::<T, M>::ON_FAULT,
            prepare_ops: &PreparedPfnOps::<T, M, P>::ON_FAULT,
        };
        Ok(self.back::<T>(backing))
    }
}

/// `EINVAL` if the mapping `vma` is copy-on-write (private and possibly writable), which a PFN
/// mapping cannot be: `remap_pfn_range()` would store the physical page number in `vm_pgoff`,
/// and the huge-entry inserts `BUG_ON` it.
fn refuse_cow<P: ForeignOwnable>(vma: &impl VmaSetup<P>) -> Result {
    if vma.flags() & (flags::SHARED | flags::MAYWRITE) == flags::MAYWRITE {
        return Err(EINVAL);
    }
    Ok(())
}

/// The frame at which a remap of the whole mapping `vma` of `mem` starts, the one of file page
/// `vm_pgoff`: `EINVAL` if the mapping is copy-on-write or reaches past the end of `mem`.
fn remap_first_pfn<P: ForeignOwnable>(
    vma: &impl VmaSetup<P>,
    mem: &impl PfnMemory,
) -> Result<usize> {
    refuse_cow(vma)?;
    let first_page = vma.pgoff();
    let pages = (vma.end() - vma.start()) >> PAGE_SHIFT;
    let end_page = first_page.checked_add(pages).ok_or(EINVAL)?;
    if end_page > mem.page_count() {
        return Err(EINVAL);
    }
    Ok(mem.first_pfn() + first_page)
}
