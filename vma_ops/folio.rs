// SPDX-License-Identifier: GPL-2.0

//! Folios a driver owns ([`Folio`]), and arrays of them ([`Folios`]): memory in blocks of
//! `2^ORDER` pages, each block one `struct folio` with one reference count and one map count,
//! that a fault can map whole with one huge entry ([`PmdFault::insert_folio`]) or a page at a time
//! ([`Folios::page`]).
//!
//! The order is part of the type: a [`Folio<ORDER>`] is allocated with that order and never
//! changes it, so a PMD entry is only ever handed a [`PmdFolio`], a folio with as many pages as a
//! page table maps (`PMD_ORDER`), and the compiler refuses any other (`wrong_folio_order.rs`).
//!
//! [`PmdFault::insert_folio`]: super::PmdFault::insert_folio

use super::pfn_map::EntrySize;
use super::vm_fault::MappablePage;
use core::ptr::NonNull;
use kernel::{
    bindings,
    iov::{IovIterDest, IovIterSource},
    page::{PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
};

// Out-of-line versions of static inline C functions and macros, from `helpers/vma_ops.c`.
#[expect(
    improper_ctypes,
    reason = "`struct folio` and `struct page` end in zero-length arrays; only pointers are passed"
)]
extern "C" {
    fn vmdev_helper_folio_alloc(gfp: bindings::gfp_t, order: c_uint) -> *mut bindings::folio;
    fn vmdev_helper_folio_put(folio: *mut bindings::folio);
    fn vmdev_helper_folio_address(folio: *const bindings::folio) -> *mut c_void;
    fn vmdev_helper_folio_pfn(folio: *const bindings::folio) -> c_ulong;
    fn vmdev_helper_folio_ref_count(folio: *const bindings::folio) -> c_int;
    fn vmdev_helper_folio_page(folio: *mut bindings::folio, index: usize) -> *mut bindings::page;
}

/// The order of a folio that one PMD entry maps: as many pages as a page table holds entries.
pub(crate) const PMD_ORDER: u32 = EntrySize::Pmd.order();

/// A folio that one PMD entry maps whole ([`PmdFault::insert_folio`](super::PmdFault)).
pub(crate) type PmdFolio = Folio<PMD_ORDER>;

/// A folio of `2^ORDER` pages from the page allocator, owned: it holds one reference, put when it
/// is dropped. Mappings of it hold references of their own, so a page still mapped, pinned by
/// `get_user_pages()` or held by a pipe outlives the `Folio`; the memory is freed with the last
/// reference.
///
/// # Invariants
///
/// `folio` is a folio of order `ORDER` from `folio_alloc()`, not anonymous, not in a page cache,
/// with one reference owned by this object; its memory is in the kernel's linear map.
pub(crate) struct Folio<const ORDER: u32> {
    folio: NonNull<bindings::folio>,
}

// SAFETY: A folio is plain memory with an atomic reference count; it has no thread affinity.
unsafe impl<const ORDER: u32> Send for Folio<ORDER> {}
// SAFETY: `&Folio` only reads the folio's fields and copies in and out of its memory.
unsafe impl<const ORDER: u32> Sync for Folio<ORDER> {}

impl<const ORDER: u32> Folio<ORDER> {
    /// The pages of the folio.
    pub(crate) const PAGES: usize = 1 << ORDER;

    /// The bytes of the folio.
    pub(crate) const SIZE: usize = PAGE_SIZE << ORDER;

    /// Allocates a folio of order `ORDER`, zeroed, waiting for memory as `GFP_KERNEL` does;
    /// `ENOMEM` (and no warning on the console) if the page allocator has no free block of that
    /// order, or none of that order at all.
    pub(crate) fn alloc_zeroed() -> Result<Self> {
        let gfp = bindings::GFP_KERNEL | bindings::__GFP_ZERO | bindings::__GFP_NOWARN;
        // SAFETY: Any flags and order may be asked for; an order above the allocator's largest
        // returns null.
        let folio = unsafe { vmdev_helper_folio_alloc(gfp, ORDER as c_uint) };
        // INVARIANT: `folio_alloc()` returned a folio of `ORDER` with one reference, ours; the
        // kernels this module supports (64-bit) have no high memory.
        Ok(Self {
            folio: NonNull::new(folio).ok_or(ENOMEM)?,
        })
    }

    /// The raw `struct folio`.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut bindings::folio {
        self.folio.as_ptr()
    }

    /// The page frame number of the folio's first page; the others follow it.
    pub(crate) fn pfn(&self) -> usize {
        // SAFETY: The folio is alive (invariants).
        unsafe { vmdev_helper_folio_pfn(self.as_ptr()) as usize }
    }

    /// The folio's reference count: this object's one, and one for each mapping, pin or pipe
    /// buffer that holds it now (it may change as soon as it is read).
    pub(crate) fn ref_count(&self) -> usize {
        // SAFETY: The folio is alive (invariants).
        let count = unsafe { vmdev_helper_folio_ref_count(self.as_ptr()) };
        usize::try_from(count).unwrap_or(0)
    }

    /// The folio's kernel address, in the linear map, from which its pages follow each other.
    pub(crate) fn address(&self) -> *mut u8 {
        // SAFETY: The folio is alive and in the linear map (invariants).
        unsafe { vmdev_helper_folio_address(self.as_ptr()) }.cast()
    }

    /// Page `index` of the folio, for a fault handler to hand the core
    /// ([`FaultResult::Page`](super::FaultResult::Page)); `None` past the folio's end.
    pub(crate) fn page(&self, index: usize) -> Option<MappablePage<'_>> {
        if index >= Self::PAGES {
            return None;
        }
        // SAFETY: The folio is alive and `index` is one of its pages.
        let page = unsafe { vmdev_helper_folio_page(self.as_ptr(), index) };
        // SAFETY: A page of this folio: from the page allocator, neither anonymous, nor slab, nor
        // a page table, and referenced by `self` for the borrow (invariants).
        Some(unsafe { MappablePage::from_raw(NonNull::new(page)?) })
    }

    /// The bytes `[offset, offset + want)` of the folio, clamped to it: a pointer and a length.
    fn span(&self, offset: usize, want: usize) -> (*mut u8, usize) {
        let offset = offset.min(Self::SIZE);
        let len = want.min(Self::SIZE - offset);
        // SAFETY: `offset <= SIZE`: inside the folio's memory or one past it.
        (unsafe { self.address().add(offset) }, len)
    }
}

impl PmdFolio {
    /// Whether this kernel maps folios with PMD entries: it needs transparent huge pages (without
    /// them, [`PmdFault`](super::PmdFault)s never happen, and every page is mapped alone).
    pub(crate) const MAPPABLE_BY_PMD: bool = cfg!(CONFIG_TRANSPARENT_HUGEPAGE);
}

impl<const ORDER: u32> Drop for Folio<ORDER> {
    fn drop(&mut self) {
        // SAFETY: This object owns one reference (invariants), given up here, once.
        unsafe { vmdev_helper_folio_put(self.as_ptr()) };
    }
}

/// A driver's memory as an array of [`Folio`]s of order `ORDER`: the folio at index `i` holds
/// the file pages `[i * 2^ORDER, (i + 1) * 2^ORDER)`.
///
/// Memory that is mapped into a process can change at any time, so no Rust reference to its
/// contents exists: [`Folios::read_at`] and [`Folios::write_at`] copy with `copy_{to,from}_iter()`.
pub(crate) struct Folios<const ORDER: u32> {
    folios: KVVec<Folio<ORDER>>,
}

impl<const ORDER: u32> Folios<ORDER> {
    /// Allocates `count` zeroed folios, waiting for memory as `GFP_KERNEL` does; `ENOMEM` if
    /// any cannot be had, with those allocated so far put again, and no warning on the console
    /// (`count` may come from user space, a module parameter, say).
    pub(crate) fn alloc_zeroed(count: usize) -> Result<Self> {
        let mut folios = KVVec::with_capacity(count, GFP_KERNEL | __GFP_NOWARN)?;
        for _ in 0..count {
            // On an error, dropping `folios` puts every folio allocated so far.
            folios.push(Folio::alloc_zeroed()?, GFP_KERNEL)?;
        }
        Ok(Self { folios })
    }

    /// The folios, in file order.
    pub(crate) fn folios(&self) -> &[Folio<ORDER>] {
        &self.folios
    }

    /// The bytes of all the folios.
    pub(crate) fn size(&self) -> usize {
        self.folios.len() * Folio::<ORDER>::SIZE
    }

    /// The folio that holds file page `pgoff`, and the page's index in it; `None` past the end.
    fn folio_of(&self, pgoff: usize) -> Option<(&Folio<ORDER>, usize)> {
        let folio = self.folios.get(pgoff >> ORDER)?;
        Some((folio, pgoff & (Folio::<ORDER>::PAGES - 1)))
    }

    /// The folio whose first page is file page `pgoff`; `None` if `pgoff` is not a multiple of
    /// the folio's pages or is past the end.
    #[inline]
    pub(crate) fn folio_at(&self, pgoff: usize) -> Option<&Folio<ORDER>> {
        if pgoff % Folio::<ORDER>::PAGES != 0 {
            return None;
        }
        self.folios.get(pgoff >> ORDER)
    }

    /// The page at file page `pgoff`, for a fault handler to hand the core
    /// ([`FaultResult::Page`](super::FaultResult::Page)); `None` past the end.
    pub(crate) fn page(&self, pgoff: usize) -> Option<MappablePage<'_>> {
        let (folio, index) = self.folio_of(pgoff)?;
        folio.page(index)
    }

    /// The kernel address and the page frame number of file page `pgoff`; `None` past the end.
    pub(crate) fn frame(&self, pgoff: usize) -> Option<(usize, usize)> {
        let (folio, index) = self.folio_of(pgoff)?;
        Some((
            folio.address().addr() + (index << PAGE_SHIFT),
            folio.pfn() + index,
        ))
    }

    /// Copies bytes from `offset` on into `dst`, across folios; returns how many (0 at or past
    /// the end, fewer if `dst` faults).
    pub(crate) fn read_at(&self, offset: usize, dst: &mut IovIterDest<'_>) -> usize {
        self.copy(offset, dst.len(), |ptr, len| {
            // SAFETY: `ptr` is valid for reads of `len` bytes of a live folio (`copy`); `dst` is
            // a valid destination iterator.
            unsafe { bindings::_copy_to_iter(ptr.cast(), len, dst.as_raw()) }
        })
    }

    /// Copies bytes from `src` into the memory from `offset` on, across folios; returns how many
    /// (0 at or past the end, fewer if `src` faults).
    pub(crate) fn write_at(&self, offset: usize, src: &mut IovIterSource<'_>) -> usize {
        self.copy(offset, src.len(), |ptr, len| {
            // SAFETY: `ptr` is valid for writes of `len` bytes of a live folio (`copy`); `src` is
            // a valid source iterator.
            unsafe { bindings::_copy_from_iter(ptr.cast(), len, src.as_raw()) }
        })
    }

    /// Calls `copy(ptr, len)` for each folio's part of `[offset, offset + want)`, in order, with
    /// a pointer valid for `len` bytes of that folio, until the range or the memory ends or a
    /// copy falls short; returns the bytes copied.
    fn copy(
        &self,
        offset: usize,
        want: usize,
        mut copy: impl FnMut(*mut u8, usize) -> usize,
    ) -> usize {
        let mut done = 0;
        while done < want {
            let Some(pos) = offset.checked_add(done) else {
                break;
            };
            let Some(folio) = self.folios.get(pos / Folio::<ORDER>::SIZE) else {
                break;
            };
            let (ptr, len) = folio.span(pos % Folio::<ORDER>::SIZE, want - done);
            let copied = copy(ptr, len);
            done += copied;
            if copied < len {
                break;
            }
        }
        done
    }
}
