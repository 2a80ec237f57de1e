// SPDX-License-Identifier: GPL-2.0

//! A page fault as a driver's handler sees it: the fault ([`VmFault`]), what the handler may see
//! of its VMA ([`FaultVma`]), the pages it may hand the core ([`MappablePage`]), the window of
//! pages it may map around the faulting one ([`VmFault::map_window`]), and its answer
//! ([`FaultResult`]).

use super::vma_ref::VmaRefExt;
use core::{cell::Cell, marker::PhantomData, ops::Range, ptr::NonNull};
use kernel::{
    bindings,
    mm::virt::{flags, vm_flags_t, VmaRef},
    page::PAGE_SHIFT,
    prelude::*,
    types::Opaque,
};

/// A page the fault path may map into user space: a page of a folio of the page allocator (an
/// order-0 page, or one page of a larger [`Folio`](super::Folio)), with a reference held by its
/// owner for `'a`, that the core can lock, take references on and map.
///
/// A pointer rather than a `BorrowedPage`: the fault path handles one per mapped page, and the
/// `kernel` crate's page accessors are not inlined into modules. Transparent, so that a slice of
/// them is the array of `struct page *` that `vm_insert_pages()` reads.
///
/// # Examples
///
/// The pages of a `vmalloc()` area, for a fault handler to map (see [`VmFault`]):
///
/// ```
/// use core::ptr::NonNull;
/// use kernel::{bindings, mm::vma_ops::MappablePage};
///
/// /// A `vmalloc()` area, freed on drop, and the `struct page` of each of its pages, looked
/// /// up once (`vmalloc_to_page()`), rather than at every fault.
/// struct Buffer {
///     pages: KVVec<NonNull<bindings::page>>,
/// }
///
/// impl Buffer {
///     /// The page at file offset `i` is `pages()[i]`.
///     fn pages(&self) -> &[MappablePage<'_>] {
///         // SAFETY: Each page of a `vmalloc()` area is an order-0, refcounted page of the page
///         // allocator, neither anonymous, nor slab, nor a page table, and the area, so the
///         // page, lives as long as `self`.
///         unsafe { MappablePage::from_pages(&self.pages) }
///     }
/// }
/// ```
///
/// # Invariants
///
/// `page` is a page of a refcounted folio of the page allocator that is neither anonymous, nor
/// slab, nor a page table, and stays allocated for `'a`.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct MappablePage<'a> {
    page: NonNull<bindings::page>,
    _owner: PhantomData<&'a bindings::page>,
}

impl<'a> MappablePage<'a> {
    /// The pages of `pages`, each a `MappablePage`.
    ///
    /// # Safety
    ///
    /// Each of `pages` must be an order-0 page from the page allocator with a reference held for
    /// `'a`, neither anonymous, nor slab, nor a page table (for example a page of a `vmalloc()`
    /// area).
    #[inline]
    pub(crate) unsafe fn from_pages(pages: &'a [NonNull<bindings::page>]) -> &'a [Self] {
        // SAFETY: `Self` is a transparent `NonNull<bindings::page>`, so the two slices have one
        // layout. INVARIANT: The caller guarantees what the invariants ask of each page.
        unsafe { core::slice::from_raw_parts(pages.as_ptr().cast(), pages.len()) }
    }

    /// # Safety
    ///
    /// `page` must be a page of a folio from the page allocator with a reference held for `'a`,
    /// neither anonymous, nor slab, nor a page table.
    #[inline]
    pub(super) unsafe fn from_raw(page: NonNull<bindings::page>) -> Self {
        // INVARIANT: The caller guarantees what the invariants ask of the page.
        Self {
            page,
            _owner: PhantomData,
        }
    }

    #[inline]
    pub(super) fn as_ptr(self) -> *mut bindings::page {
        self.page.as_ptr()
    }
}

/// What a fault handler ([`VmOperations::fault`](super::VmOperations::fault)) tells the core.
///
/// # Examples
///
/// A handler that maps one page per fault: the core maps the page it is handed, with a
/// reference of its own. (A handler that maps a window of pages at once answers
/// [`FaultResult::Mapped`]: see [`VmFault`].)
///
/// ```
/// use kernel::mm::vma_ops::{FaultResult, MappablePage, VmFault, VmOperations};
///
/// struct Buffer {
///     // ...
/// }
///
/// impl Buffer {
///     /// The page at file offset `index`, `None` past the end.
///     fn page(&self, index: usize) -> Option<MappablePage<'_>> {
///         // ...
/// #       None
///     }
/// }
///
/// struct BufferOps;
///
/// #[vtable]
/// impl VmOperations for BufferOps {
///     type Data = Buffer;
///
///     fn fault<'a>(buf: &'a Self::Data, vmf: &'a VmFault) -> FaultResult<'a> {
///         // `pgoff` is the file offset of the faulting page. Where the VMA reaches past the
///         // buffer's end, the access gets `SIGBUS`, never someone else's memory.
///         match buf.page(vmf.pgoff()) {
///             Some(page) => FaultResult::Page(page),
///             None => FaultResult::SigBus,
///         }
///     }
/// }
/// ```
pub(crate) enum FaultResult<'a> {
    /// Map this page at the faulting address (and, for a write to a private mapping, a copy of
    /// it). The core takes its own reference on the page for as long as it is mapped.
    Page(MappablePage<'a>),
    /// The faulting page was mapped by [`VmFault::map_window`], which alone makes this proof,
    /// valid for the fault that made it only.
    Mapped(
        #[expect(dead_code, reason = "a proof, never read: only `map_window` makes one")]
        WindowMapped<'a>,
    ),
    /// The address has no backing: the access gets `SIGBUS`.
    SigBus,
}

/// Proof that the faulting page has a page table entry now, and what [`VmFault::map_window`]
/// inserted to get there.
///
/// It borrows the fault it proves (`'a`), so a handler can only return it from that fault: one
/// kept for a later fault would tell the core that a page is mapped when nothing is, and the
/// access would fault again forever.
pub(crate) struct WindowMapped<'a> {
    pages: usize,
    fault_page: bool,
    _fault: PhantomData<&'a VmFault>,
}

impl WindowMapped<'_> {
    /// How many pages this fault inserted, the faulting one included.
    pub(crate) fn pages(&self) -> usize {
        self.pages
    }

    /// Whether the faulting page was among them (`false` when another thread mapped it first).
    pub(crate) fn fault_page(&self) -> bool {
        self.fault_page
    }
}

/// The file pages a fault at file page `pgoff` maps with a window of `2^order` pages in a VMA
/// that maps file pages `vma`: the naturally aligned window holding `pgoff`, from the VMA's
/// first page if that is later, up to the VMA's end at most. They hold `pgoff`. An order too
/// large for an offset is the whole of the offsets.
fn window_pages(pgoff: usize, order: u32, vma: Range<usize>) -> Range<usize> {
    let window = 1usize.checked_shl(order).unwrap_or(0).wrapping_sub(1);
    let start = (pgoff & !window).max(vma.start);
    start..start.saturating_add(window).saturating_add(1).min(vma.end)
}

/// A page fault being handled: the kernel's `struct vm_fault`.
///
/// # Examples
///
/// A fault handler that maps the faulting page together with those around it, 16 at a time:
/// a first touch that runs through the buffer faults once per 16 pages, not once per page.
///
/// ```
/// use kernel::mm::vma_ops::{FaultResult, MappablePage, VmFault, VmOperations};
///
/// struct Buffer {
///     // ...
/// }
///
/// impl Buffer {
///     /// The page at file offset `i` is `pages()[i]` (see `MappablePage`).
///     fn pages(&self) -> &[MappablePage<'_>] {
///         // ...
/// #       &[]
///     }
/// }
///
/// struct BufferOps;
///
/// #[vtable]
/// impl VmOperations for BufferOps {
///     type Data = Buffer;
///
///     fn fault<'a>(buf: &'a Self::Data, vmf: &'a VmFault) -> FaultResult<'a> {
///         // The aligned block of 2^4 pages around the faulting one, within the VMA and the
///         // buffer; pages mapped already are left alone.
///         if let Some(mapped) = vmf.map_window(4, buf.pages()) {
///             return FaultResult::Mapped(mapped);
///         }
///         // Nothing mapped: a write to a private mapping, where the core maps a copy of the
///         // page handed back, or a page past the buffer, or one that could not be inserted.
///         match buf.pages().get(vmf.pgoff()) {
///             Some(&page) => FaultResult::Page(page),
///             None => FaultResult::SigBus,
///         }
///     }
/// }
/// ```
///
/// # Invariants
///
/// `inner` is the `struct vm_fault` of a fault in progress, in process context, whose VMA has
/// operations built by this module (`PageOps`, `PfnOps` or `FolioOps`) and is read-locked (by
/// `mmap_lock` or its own per-VMA lock) for the life of this object.
#[repr(transparent)]
pub(crate) struct VmFault {
    inner: Opaque<bindings::vm_fault>,
}

impl VmFault {
    /// # Safety
    ///
    /// `ptr` must be the `struct vm_fault` passed to a fault callback of a VMA with operations
    /// built by this module, valid for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::vm_fault) -> &'a Self {
        // SAFETY: `VmFault` is a transparent wrapper; the caller guarantees validity for 'a.
        unsafe { &*ptr.cast() }
    }

    fn raw(&self) -> &bindings::vm_fault {
        // SAFETY: By the type invariants, the structure is valid; the core does not modify the
        // fields read here while the driver's callback runs.
        unsafe { &*self.inner.get() }
    }

    /// The VMA the fault is in, as a fault handler may see it.
    pub(crate) fn vma(&self) -> &FaultVma {
        // SAFETY: The VMA of a fault in progress is read-locked for its duration (invariants).
        let vma = unsafe { VmaRef::from_raw(self.raw().__bindgen_anon_1.vma) };
        // SAFETY: `FaultVma` is a transparent `VmaRef`.
        unsafe { &*core::ptr::from_ref(vma).cast::<FaultVma>() }
    }

    /// The offset in the mapped file, in pages, of the faulting address: `vm_pgoff` plus the
    /// page index of the address in the VMA.
    pub(crate) fn pgoff(&self) -> usize {
        self.raw().__bindgen_anon_1.pgoff
    }

    /// The raw `struct vm_fault`, for the core's insertion functions.
    #[cfg(CONFIG_TRANSPARENT_HUGEPAGE)]
    pub(super) fn as_raw(&self) -> *mut bindings::vm_fault {
        self.inner.get()
    }

    /// The faulting user address.
    pub(super) fn address(&self) -> usize {
        self.raw().__bindgen_anon_1.address
    }

    /// Whether the fault is a write.
    pub(super) fn is_write(&self) -> bool {
        self.raw().flags & bindings::fault_flag_FAULT_FLAG_WRITE != 0
    }

    /// Whether this is a write to a private mapping: the core maps a copy of the page the
    /// handler returns, so the page itself must not be mapped.
    pub(super) fn is_cow(&self) -> bool {
        self.is_write() && self.vma().flags() & flags::SHARED == 0
    }

    /// Maps the naturally aligned block of `2^order` file pages around the faulting one, clamped
    /// to the VMA and to `pages`, where `pages[i]` is the page at file offset `i`; pages mapped
    /// already are left alone. This is fault-around done where sleeping is allowed: page tables
    /// are allocated as needed.
    ///
    /// The core reads the window's pages from `pages` itself (`vm_insert_pages()` takes an
    /// array): nothing is copied per page.
    ///
    /// The pages are inserted with `vm_insert_pages()`, which takes the references the mapping
    /// holds: a window of one page is the cheapest way to map a single page too.
    ///
    /// Returns the proof to answer the fault with if the faulting page is mapped now; `None`,
    /// having mapped nothing, if the fault is a write to a private mapping (return the page for
    /// the core to copy), and `None` too if the faulting page could not be mapped (return it
    /// then).
    #[inline]
    pub(crate) fn map_window(
        &self,
        order: u32,
        pages: &[MappablePage<'_>],
    ) -> Option<WindowMapped<'_>> {
        let vma = self.vma();
        // `vm_insert_pages()` needs `VM_MIXEDMAP`, which `map_on_fault` sets.
        if vma.flags() & flags::MIXEDMAP == 0 {
            return None;
        }
        if self.is_cow() {
            return None;
        }
        let first = vma.pgoff();
        let end = first.checked_add((vma.end() - vma.start()) >> PAGE_SHIFT)?;
        let range = window_pages(self.pgoff(), order, first..end.min(pages.len()));
        // `None` for an empty range: the faulting page is past the end of `pages`.
        let in_window = pages.get(range.clone())?;
        // The range lies in `first..end`, the VMA's pages (`window_pages()`), so the address of
        // its first page is inside the VMA, and so are those of all its pages: no overflow.
        let start = vma.start() + ((range.start - first) << PAGE_SHIFT);
        let fault = FaultState::default();
        let inserted = insert_pages(self, range.start, start, in_window, &fault);
        fault.mapped.get().then(|| WindowMapped {
            pages: inserted,
            fault_page: fault.inserted.get(),
            _fault: PhantomData,
        })
    }
}

/// The VMA of a fault in progress, as its handler may see it: where it lies, how it maps the
/// file, and its flags.
///
/// Not a [`VmaRef`], on purpose. A fault may run under the VMA's own read lock alone (the
/// per-VMA lock, `lock_vma_under_rcu()`), while a writer holds `mmap_lock` for writing and
/// waits in `vma_start_write()` for that very lock: `VmaRef::mm()` leads to
/// `mmap_read_lock()`, which would then wait for the writer, a deadlock. Nor does a handler
/// need `VmaRef`'s other ways in (`as_mixedmap_vma()` and its `vm_insert_page()`, zapping):
/// it maps pages by returning them or through [`VmFault::map_window`].
/// (`deadlock_in_fault.rs` in `tests/compile-fail/` checks that `mm()` is out of reach.)
///
/// # Invariants
///
/// The VMA is read-locked for as long as the fault that lends it runs.
#[repr(transparent)]
pub(crate) struct FaultVma(VmaRef);

impl FaultVma {
    /// The first address of the VMA.
    #[inline]
    pub(crate) fn start(&self) -> usize {
        self.0.start()
    }

    /// The address just past the VMA.
    #[inline]
    pub(crate) fn end(&self) -> usize {
        self.0.end()
    }

    /// The offset in the mapped file, in pages, of the VMA's first page (`vm_pgoff`).
    #[inline]
    pub(crate) fn pgoff(&self) -> usize {
        self.0.pgoff()
    }

    /// The VMA's `VM_*` flags.
    #[inline]
    pub(crate) fn flags(&self) -> vm_flags_t {
        self.0.flags()
    }

    #[inline]
    pub(super) fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.0.as_ptr()
    }
}

/// What became of the faulting page while a window was mapped.
#[derive(Default)]
struct FaultState {
    /// It has a page table entry now.
    mapped: Cell<bool>,
    /// This fault inserted it.
    inserted: Cell<bool>,
}

/// Inserts `pages` at the consecutive file offsets from `first` on, at the addresses from
/// `start` on, skipping offsets that are mapped already; records in `fault` what became of the
/// faulting page of `vmf`. Returns how many it inserted. The VMA must be `VM_MIXEDMAP`, and the
/// addresses of all the pages inside it.
#[inline]
fn insert_pages(
    vmf: &VmFault,
    first: usize,
    start: usize,
    pages: &[MappablePage<'_>],
    fault: &FaultState,
) -> usize {
    let vma = vmf.vma();
    let fault_index = vmf.pgoff().checked_sub(first);
    let mut inserted = 0;
    let mut next = 0;
    while next < pages.len() {
        let mut left = (pages.len() - next) as c_ulong;
        // SAFETY: The VMA is read-locked and `VM_MIXEDMAP` (checked by `map_window`), the
        // addresses are inside it (the caller's guarantee), and this runs in `fault`, in process
        // context, where page tables may be allocated. The pages are mappable pages that outlive
        // this call, and a `MappablePage` is a transparent `struct page *`: the array is one
        // `vm_insert_pages()` only reads. Each insertion takes a reference of its own.
        let ret = unsafe {
            bindings::vm_insert_pages(
                vma.as_ptr(),
                (start + (next << PAGE_SHIFT)) as c_ulong,
                pages[next..]
                    .as_ptr()
                    .cast::<*mut bindings::page>()
                    .cast_mut(),
                &mut left,
            )
        };
        let done = pages.len() - next - left as usize;
        if fault_index.is_some_and(|i| (next..next + done).contains(&i)) {
            fault.mapped.set(true);
            fault.inserted.set(true);
        }
        inserted += done;
        next += done;
        // `-EBUSY` means the entry at `next` exists already: skip that page. Any other error
        // leaves the rest unmapped; the faulting page, if among them, goes to the core.
        if ret != -(bindings::EBUSY as c_int) {
            break;
        }
        if fault_index == Some(next) {
            fault.mapped.set(true);
        }
        next += 1;
    }
    inserted
}

#[cfg(CONFIG_KUNIT)]
#[kunit_tests(rust_vmdev_vm_fault)]
mod tests {
    use super::*;

    #[test]
    fn window_is_aligned_and_clipped_to_the_vma() {
        assert_eq!(window_pages(21, 4, 0..100), 16..32);
        assert_eq!(window_pages(16, 4, 0..100), 16..32);
        // From the VMA's first page when the aligned window starts before it; clipped at its end.
        assert_eq!(window_pages(21, 4, 18..100), 18..34);
        assert_eq!(window_pages(21, 4, 0..25), 16..25);
        // A window of order 0 is the faulting page.
        assert_eq!(window_pages(21, 0, 0..100), 21..22);
        // Near the top of the offsets, or with an order wider than an offset: no overflow.
        assert_eq!(
            window_pages(usize::MAX - 1, 4, 0..usize::MAX),
            usize::MAX - 15..usize::MAX
        );
        assert_eq!(window_pages(21, usize::BITS, 0..100), 0..100);
    }
}
