// SPDX-License-Identifier: GPL-2.0

//! The VMA API: mapping driver memory into user space, safely.
//!
//! Linux 7.3's `kernel` crate can configure a VMA at `mmap()` time ([`VmaNew`]) and insert
//! single pages into a `VM_MIXEDMAP` VMA, but it has no abstraction for `struct
//! vm_operations_struct` or for `remap_pfn_range()`. This module adds both. At `mmap()` time the
//! driver gets a [`NewVma`] and picks, once, how the VMA is backed:
//!
//! - [`NewVma::remap_pfns`]: the whole VMA is mapped now onto page frames the driver owns
//!   ([`PfnMemory`]), with special entries the core never takes a page reference through; the
//!   VMA is `VM_PFNMAP | VM_IO` and nothing ever faults.
//! - [`NewVma::map_on_fault`]: nothing is mapped now; each first touch of a page calls
//!   [`VmOperations::fault`], which hands the core a [`MappablePage`] or maps a window of them
//!   itself ([`VmFault::map_window`]).
//! - [`NewVma::map_pfns_on_fault`]: nothing is mapped now; each first touch maps the page frames
//!   of [`PfnMemory`] around it with the largest page-table entry that fits ([`EntrySize`]: a
//!   PUD or PMD entry where the frames, the VMA and the address are aligned, else a PTE). The
//!   VMA is `VM_PFNMAP | VM_IO`; this module inserts the frames itself, and the driver only
//!   hears about it ([`VmOperations::pfns_mapped`]).
//!
//! The VMAs of both PFN backings can be read and written by `ptrace()`, `/proc/<pid>/mem` and
//! debuggers, which `get_user_pages()` refuses for `VM_PFNMAP`: their `access` operation copies
//! through the memory's own kernel mapping (see [`PfnOpsTable`]).
//!
//! # What the types rule out
//!
//! Each item names the test in `tests/compile-fail/` (run by `make check`) whose misuse the
//! compiler refuses, where a compiler can refuse it.
//!
//! - A VMA that is both `VM_PFNMAP` and `VM_MIXEDMAP` (mm `BUG_ON`s on it, and it would let
//!   `vm_insert_page()` put refcounted pages into a pfnmap): the driver never sees the `&VmaNew`
//!   whose safe `set_mixedmap()` allows it, only a [`NewVma`], which the one method that picks
//!   the backing consumes (`pfn_and_mixed.rs`).
//! - A PFN-mapped VMA with a fault handler, whose inserted pages no zap would release:
//!   [`NewVma::remap_pfns`] and [`NewVma::map_pfns_on_fault`] do not compile for operations that
//!   implement `fault`, and [`NewVma::map_on_fault`] does not compile for operations that lack
//!   it (`fault_on_pfn_vma.rs`, `on_fault_without_handler.rs`).
//! - A huge entry that maps frames the VMA does not own, or a copy-on-write PFN mapping (both a
//!   `BUG_ON` or worse in `vmf_insert_pfn_pmd()`): the frames of each entry are computed, checked
//!   against the memory and aligned by this module, never by the driver.
//! - Handing the core a page it cannot map: the fault path takes only [`MappablePage`], which
//!   memory types create (unsafely, with the proof) for their order-0, refcounted pages
//!   (`unmappable_page.rs`).
//! - Mapping into a VMA from `open` (before a copy's page tables exist) or `close` (after they
//!   are gone, which would leave an entry no VMA owns): they get the data, not the VMA
//!   (`insert_from_close.rs`).
//! - Failing `mmap()` after backing the VMA (the core frees it without `close`, and its reference
//!   to the data would leak): backing returns a [`Backed`], which installs the operations only
//!   when `mmap()` returns it and gives the reference back if dropped; it must be used
//!   (`err_after_backing.rs`).
//! - Telling the core that a fault mapped its page when it did not: [`Mapped`], the proof
//!   [`VmFault::map_window`] gives, borrows the fault it proves and cannot be kept for another
//!   (`replayed_mapped.rs`).
//! - Sleeping under `rcu_read_lock()`: no driver code runs in `map_pages`, see
//!   [`VmOpsTable`].
//! - A split of a VMA across a PUD entry, which the 7.3 core cannot do (it oopses): the VMAs of
//!   [`NewVma::map_pfns_on_fault`] remove such an entry before any split (`may_split`, see
//!   [`PfnOpsTable`]), and map PUD entries only where the CPU can walk them
//!   ([`EntrySize::mappable`]).
//!
//! The arithmetic on what user space chooses (offsets, addresses, lengths) is in pure functions
//! with KUnit cases (`mod tests`, run when the module loads; `module.kunit` reads them).
//!
//! # Lifetimes
//!
//! Each VMA holds an `Arc` to its [`VmOperations::Data`] from `mmap()` (or its creation as a
//! copy) to its `close`, so the memory outlives every mapping of it. The operations table and
//! the callbacks are module code: the VMA holds a reference to its file (`vm_file`), and the
//! file holds its `f_op->owner`, this module (see `chardev`), so the module cannot be unloaded
//! before the last VMA's `close` has returned.

use crate::memory::DeviceMemory;
use core::{
    cell::Cell, ffi::c_void, marker::PhantomData, mem::ManuallyDrop, ops::Deref, ops::Range,
    ptr::NonNull,
};
use kernel::{
    bindings,
    error::to_result,
    mm::virt::{flags, VmaNew, VmaRef},
    page::{PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::Opaque,
};

// Out-of-line versions of static inline C functions, from `vmdev_helpers.c`.
#[expect(
    improper_ctypes,
    reason = "`struct page` ends in a zero-length array; only pointers to it are passed"
)]
extern "C" {
    fn vmdev_helper_get_page(page: *mut bindings::page);
    fn vmdev_helper_pud_leaf_supported() -> bool;
    #[cfg(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP)]
    fn vmdev_helper_vma_start_write(vma: *mut bindings::vm_area_struct);
}

/// Physical memory that may be mapped into user space by page frame number.
///
/// This module maps the frames only into `VM_PFNMAP` VMAs that are never copy-on-write, with
/// special entries (`remap_pfn_range()`, `vmf_insert_pfn*()`): the core never looks at the
/// `struct page` of such a frame, takes no reference on it and never frees it, and
/// `get_user_pages()` refuses the VMA. So a frame need not be refcounted nor `PG_reserved` to be
/// mapped this way; what keeps it from being freed while mapped is its owner, which every VMA
/// mapping it keeps alive.
///
/// # Safety
///
/// The frames `first_pfn()..first_pfn() + page_count()` belong to the implementer for as long as it
/// exists: nothing else in the kernel frees, reuses or maps them meanwhile (pages the implementer
/// allocated and holds, or a range outside System RAM that it has claimed), and they are memory
/// that may be mapped with the VMA's default, cached protection.
pub(crate) unsafe trait PfnMemory {
    /// The first page frame number.
    fn first_pfn(&self) -> usize;

    /// How many page frames, from [`Self::first_pfn`] on.
    fn page_count(&self) -> usize;
}

/// A page the fault path may map into user space: an order-0 page of the page allocator, with a
/// reference held by its owner for `'a`, that the core can lock, take references on and map.
///
/// A pointer rather than a `BorrowedPage`: the fault path handles one per mapped page, and the
/// `kernel` crate's page accessors are not inlined into modules.
///
/// # Invariants
///
/// `page` is an order-0, refcounted page that is neither anonymous, nor slab, nor a page table,
/// and stays allocated for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct MappablePage<'a> {
    page: NonNull<bindings::page>,
    _owner: PhantomData<&'a bindings::page>,
}

impl MappablePage<'_> {
    /// # Safety
    ///
    /// `page` must be an order-0 page from the page allocator with a reference held for `'a`,
    /// neither anonymous, nor slab, nor a page table (for example a page of a `vmalloc()` area).
    #[inline]
    pub(crate) unsafe fn new(page: NonNull<bindings::page>) -> Self {
        // INVARIANT: The caller guarantees what the invariants ask.
        Self {
            page,
            _owner: PhantomData,
        }
    }

    #[inline]
    fn as_ptr(self) -> *mut bindings::page {
        self.page.as_ptr()
    }
}

/// What a [`VmOperations::fault`] handler tells the core.
pub(crate) enum Fault<'a> {
    /// Map this page at the faulting address (and, for a write to a private mapping, a copy of
    /// it). The core takes its own reference on the page for as long as it is mapped.
    Page(MappablePage<'a>),
    /// The faulting page was mapped by [`VmFault::map_window`], which alone makes this proof,
    /// valid for the fault that made it only.
    Mapped(
        #[expect(dead_code, reason = "a proof, never read: only `map_window` makes one")]
        Mapped<'a>,
    ),
    /// The address has no backing: the access gets `SIGBUS`.
    SigBus,
}

/// Proof that the faulting page has a page table entry now, and what [`VmFault::map_window`]
/// mapped to get there.
///
/// It borrows the fault it proves (`'a`), so a handler can only return it from that fault: one
/// kept for a later fault would tell the core that a page is mapped when nothing is, and the
/// access would fault again forever.
pub(crate) struct Mapped<'a> {
    pages: usize,
    fault_page: bool,
    _fault: PhantomData<&'a VmFault>,
}

impl Mapped<'_> {
    /// How many pages this fault inserted, the faulting one included.
    pub(crate) fn pages(&self) -> usize {
        self.pages
    }

    /// Whether the faulting page was among them (`false` when another thread mapped it first).
    pub(crate) fn fault_page(&self) -> bool {
        self.fault_page
    }
}

/// The size of the page-table entry a fault in a [`NewVma::map_pfns_on_fault`] VMA inserted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum EntrySize {
    /// A page-table entry: one page.
    Pte,
    /// A PMD entry: a whole page table's worth of pages (2 MiB with 4 KiB pages).
    Pmd,
    /// A PUD entry: a whole page-middle directory's worth (1 GiB with 4 KiB pages).
    Pud,
}

/// log2 of the entries in one page table: a page of 8-byte entries on the 64-bit architectures
/// this module builds for. `vmdev_helpers.c` asserts at compile time that the kernel's
/// `PMD_ORDER` and `PUD_ORDER` are one and two of these.
const TABLE_ORDER: u32 = PAGE_SHIFT as u32 - 3;

impl EntrySize {
    /// log2 of the pages one entry maps.
    pub(crate) const fn order(self) -> u32 {
        match self {
            Self::Pte => 0,
            Self::Pmd => TABLE_ORDER,
            Self::Pud => 2 * TABLE_ORDER,
        }
    }

    /// How many pages one entry maps.
    pub(crate) const fn pages(self) -> usize {
        1 << self.order()
    }

    /// The bytes one entry maps.
    const fn bytes(self) -> usize {
        PAGE_SIZE << self.order()
    }

    /// Whether this kernel, on this CPU, can map page frames with an entry of this size: PMD and
    /// PUD entries need the architecture's support (`CONFIG_ARCH_SUPPORTS_{PMD,PUD}_PFNMAP`), and
    /// a PUD leaf also a CPU that can walk one (x86: 1 GiB pages, cpuinfo `pdpe1gb`; without them
    /// the entry's size bit is reserved and every access through it faults). The core checks the
    /// config only (`has_transparent_pud_hugepage()`), so this asks what the kernel's own huge
    /// `vmalloc()` asks, `arch_vmap_pud_supported()`.
    pub(crate) fn mappable(self) -> bool {
        match self {
            Self::Pte => true,
            Self::Pmd => cfg!(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP),
            Self::Pud => cfg!(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP) && cpu_walks_pud_leaves(),
        }
    }
}

/// Whether the CPU can walk a PUD leaf: `arch_vmap_pud_supported()`.
fn cpu_walks_pud_leaves() -> bool {
    // SAFETY: A read of the boot CPU's features, which are fixed after boot.
    unsafe { vmdev_helper_pud_leaf_supported() }
}

// The arithmetic of the fault, split and access paths, on values user space chooses (offsets,
// addresses, lengths): pure functions, each unit-tested below (`kunit_tests`).

/// The file pages a fault at file page `pgoff` maps with a window of `window` pages (0 counts
/// as 1) in a VMA that maps file pages `vma`: `window` pages from the start of the naturally
/// aligned window holding `pgoff`, or from the VMA's first page if that is later, up to the
/// VMA's end at most. They hold `pgoff`.
fn window_pages(pgoff: usize, window: usize, vma: Range<usize>) -> Range<usize> {
    let window = window.max(1);
    let start = (pgoff - pgoff % window).max(vma.start);
    start..start.saturating_add(window).min(vma.end)
}

/// The first frame of the entry of `size` at `addr` (aligned to the entry's size) in the VMA
/// that spans the addresses `vma` from file page `pgoff` on: the frame of its first page in
/// `mem`. `None` if the entry would reach outside the VMA or the memory, or its frames are not
/// aligned to its size (the hardware takes the low bits of a huge entry's frame as 0).
fn entry_pfn(
    size: EntrySize,
    addr: usize,
    vma: Range<usize>,
    pgoff: usize,
    mem: &impl PfnMemory,
) -> Option<usize> {
    let pgoff = addr
        .checked_sub(vma.start)
        .filter(|_| size.bytes() <= vma.end.saturating_sub(addr))
        .and_then(|offset| pgoff.checked_add(offset >> PAGE_SHIFT))
        .filter(|pgoff| {
            pgoff
                .checked_add(size.pages())
                .is_some_and(|end| end <= mem.page_count())
        })?;
    Some(mem.first_pfn() + pgoff).filter(|pfn| pfn % size.pages() == 0)
}

/// The start of the PUD span that a split of the VMA spanning `vma` at `addr` would cut: the
/// naturally aligned span around `addr` when `addr` is not its start and the span lies wholly
/// in the VMA (only such a span can hold a PUD entry, which lies wholly in its VMA).
fn pud_span_across(addr: usize, vma: Range<usize>) -> Option<usize> {
    let span = EntrySize::Pud.bytes();
    let start = addr & !(span - 1);
    (start != addr && start >= vma.start && span <= vma.end.saturating_sub(start)).then_some(start)
}

/// Where `access` of `len` bytes at `addr`, in a VMA starting at `start` with file page `pgoff`
/// there, reads or writes: the offset in the memory, and the bytes of `len` in that page.
/// `None` if the offset overflows.
fn access_span(addr: usize, start: usize, pgoff: usize, len: usize) -> Option<(usize, usize)> {
    let in_page = addr % PAGE_SIZE;
    let offset = addr
        .checked_sub(start)
        .and_then(|from_start| pgoff.checked_add(from_start >> PAGE_SHIFT))
        .and_then(|page| page.checked_mul(PAGE_SIZE))
        .and_then(|page| page.checked_add(in_page))?;
    Some((offset, len.min(PAGE_SIZE - in_page)))
}

/// A page fault being handled: the kernel's `struct vm_fault`.
///
/// # Invariants
///
/// `inner` is the `struct vm_fault` of a fault in progress, in process context, whose VMA has
/// operations built by this module ([`VmOpsTable`] or [`PfnOpsTable`]) and is read-locked (by
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
    unsafe fn from_raw<'a>(ptr: *mut bindings::vm_fault) -> &'a Self {
        // SAFETY: `VmFault` is a transparent wrapper; the caller guarantees validity for 'a.
        unsafe { &*ptr.cast() }
    }

    fn raw(&self) -> &bindings::vm_fault {
        // SAFETY: By the type invariants, the structure is valid; the core does not modify the
        // fields read here while the driver's callback runs.
        unsafe { &*self.inner.get() }
    }

    /// The VMA the fault is in.
    pub(crate) fn vma(&self) -> &VmaRef {
        // SAFETY: The VMA of a fault in progress is read-locked for its duration (invariants).
        unsafe { VmaRef::from_raw(self.raw().__bindgen_anon_1.vma) }
    }

    /// The offset in the mapped file, in pages, of the faulting address: `vm_pgoff` plus the
    /// page index of the address in the VMA.
    pub(crate) fn pgoff(&self) -> usize {
        self.raw().__bindgen_anon_1.pgoff
    }

    /// The faulting user address.
    fn address(&self) -> usize {
        self.raw().__bindgen_anon_1.address
    }

    /// Whether the fault is a write.
    fn is_write(&self) -> bool {
        self.raw().flags & bindings::fault_flag_FAULT_FLAG_WRITE != 0
    }

    /// Whether this is a write to a private mapping: the core maps a copy of the page the
    /// handler returns, so the page itself must not be mapped.
    fn is_cow(&self) -> bool {
        self.is_write() && self.vma().flags() & flags::SHARED == 0
    }

    /// Maps the naturally aligned block of `window` file pages around the faulting one, clamped
    /// to the VMA, with the pages `page_at` gives; offsets without a page and pages mapped
    /// already are left alone. This is fault-around done where sleeping is allowed: page tables
    /// are allocated as needed.
    ///
    /// The pages are inserted with `vm_insert_pages()`, which takes the references the mapping
    /// holds: a window of one page is the cheapest way to map a single page too.
    ///
    /// Returns the proof to answer the fault with if the faulting page is mapped now; `None`,
    /// having mapped nothing, if the fault is a write to a private mapping (return the page for
    /// the core to copy), and `None` too if the faulting page could not be mapped (return it
    /// then).
    #[inline]
    pub(crate) fn map_window<'p>(
        &self,
        window: usize,
        page_at: impl Fn(usize) -> Option<MappablePage<'p>>,
    ) -> Option<Mapped<'_>> {
        let vma = self.vma();
        // `vm_insert_pages()` needs `VM_MIXEDMAP`, which `map_on_fault` sets.
        vma.as_mixedmap_vma()?;
        if self.is_cow() {
            return None;
        }
        let first = vma.pgoff();
        let end = first.checked_add((vma.end() - vma.start()) >> PAGE_SHIFT)?;
        let fault = FaultState::default();
        let pages = map_range(
            self,
            window_pages(self.pgoff(), window, first..end),
            page_at,
            &fault,
        );
        fault.mapped.get().then(|| Mapped {
            pages,
            fault_page: fault.inserted.get(),
            _fault: PhantomData,
        })
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

/// Maps, in batches of [`INSERT_BATCH`], the page `page_at` gives for each file offset in
/// `pgoffs` that has one and is not mapped yet; records in `fault` what became of the faulting
/// page of `vmf`. Returns how many pages it mapped. The VMA must be `VM_MIXEDMAP`, and `pgoffs`
/// inside it.
#[inline]
fn map_range<'p>(
    vmf: &VmFault,
    pgoffs: Range<usize>,
    page_at: impl Fn(usize) -> Option<MappablePage<'p>>,
    fault: &FaultState,
) -> usize {
    let mut mapped = 0;
    let mut batch = [core::ptr::null_mut(); INSERT_BATCH];
    let (mut first, mut len) = (0, 0);
    for pgoff in pgoffs {
        match page_at(pgoff) {
            Some(page) => {
                if len == 0 {
                    first = pgoff;
                }
                batch[len] = page.as_ptr();
                len += 1;
                if len < INSERT_BATCH {
                    continue;
                }
            }
            None if len == 0 => continue,
            None => {}
        }
        mapped += insert_pages(vmf, first, &batch[..len], fault);
        len = 0;
    }
    if len > 0 {
        mapped += insert_pages(vmf, first, &batch[..len], fault);
    }
    mapped
}

/// At most this many pages go to one `vm_insert_pages()` call (one page-table lock round).
const INSERT_BATCH: usize = 16;

/// Inserts `pages` at the consecutive file offsets from `first` on, skipping offsets that are
/// mapped already. Returns how many it inserted. Each entry of `pages` is a [`MappablePage`]
/// that outlives the call.
#[inline]
fn insert_pages(
    vmf: &VmFault,
    first: usize,
    pages: &[*mut bindings::page],
    fault: &FaultState,
) -> usize {
    let vma = vmf.vma();
    let Some(start) = first
        .checked_sub(vma.pgoff())
        .and_then(|index| index.checked_mul(PAGE_SIZE))
        .and_then(|offset| vma.start().checked_add(offset))
    else {
        return 0;
    };
    if pages.len() > (vma.end().saturating_sub(start) >> PAGE_SHIFT) {
        return 0;
    }
    let fault_index = vmf.pgoff().checked_sub(first);
    let mut inserted = 0;
    let mut next = 0;
    while next < pages.len() {
        let mut left = (pages.len() - next) as c_ulong;
        // SAFETY: The VMA is read-locked and `VM_MIXEDMAP` (checked by `map_window`), the
        // addresses are inside it (checked above), and this runs in `fault`, in process context,
        // where page tables may be allocated. The pages are mappable pages that outlive this
        // call; each insertion takes a reference of its own.
        let ret = unsafe {
            bindings::vm_insert_pages(
                vma.as_ptr(),
                (start + (next << PAGE_SHIFT)) as c_ulong,
                pages[next..].as_ptr().cast_mut(),
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

/// The callbacks of a VMA, turned into a `struct vm_operations_struct` by [`VmOpsTable`].
///
/// Each VMA that has these operations owns one reference to an `Arc<Self::Data>`, kept in its
/// `vm_private_data`, from [`NewVma::remap_pfns`] or [`NewVma::map_on_fault`] (or a copy or
/// split of the VMA) to its [`VmOperations::close`]. So the data outlives every mapping that
/// uses it.
#[vtable]
pub(crate) trait VmOperations: Sized {
    /// What every VMA of this kind refers to, e.g. the device and its memory.
    type Data: Send + Sync;

    /// A VMA got these operations: at `mmap()` time, or as a copy of another (`fork()`, a split
    /// by partial `munmap()` or `mprotect()`, `mremap()` moving it). Called exactly once for
    /// every VMA that [`VmOperations::close`] will later be called for. It gets the data, not
    /// the VMA: a copy's page tables are not copied or moved yet, and nothing may be mapped
    /// into it here.
    fn open(_data: &Self::Data) {}

    /// A VMA is going away (`munmap()`, process exit, a `MAP_FIXED` mapping over it, or the old
    /// half of a move). It gets the data, not the VMA: the page tables are gone already, and an
    /// entry mapped now would outlive every VMA (and the memory).
    fn close(_data: &Self::Data) {}

    /// A page of a VMA set up by [`NewVma::map_on_fault`] that has no page table entry was
    /// touched. Runs in process context and may sleep, under the VMA's read lock (its per-VMA
    /// lock or `mmap_lock`). Required there; not allowed with [`NewVma::remap_pfns`].
    fn fault<'a>(_data: &'a Self::Data, _vmf: &'a VmFault) -> Fault<'a> {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// A fault in a VMA set up by [`NewVma::map_pfns_on_fault`] mapped one entry of `size`.
    /// Runs in the fault, under the VMA's read lock. When two threads fault the same entry at
    /// once, both may be told.
    fn pfns_mapped(_data: &Self::Data, _size: EntrySize) {}
}

/// Builds the `struct vm_operations_struct` for a [`VmOperations`] implementation.
///
/// The tables are constants, promoted to statics in this module's memory; the callbacks are
/// this module's code. Both stay valid while any VMA uses them, since each such VMA pins this
/// module through its file (see the module docs).
pub(crate) struct VmOpsTable<T>(PhantomData<T>);

impl<T: VmOperations> VmOpsTable<T> {
    /// Operations of a VMA mapped on fault by [`NewVma::map_on_fault`].
    const ON_FAULT: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(Self::open),
        close: Some(Self::close),
        fault: Some(Self::fault),
        // Present so that faults stay under the per-VMA lock; maps nothing (see `map_nothing`).
        map_pages: Some(map_nothing),
        ..pin_init::zeroed()
    };

    /// # Safety
    ///
    /// `vma` must carry these operations, with `vm_private_data` from [`Arc::into_raw`] of an
    /// `Arc<T::Data>` whose reference is held by a live VMA, and be at least read-locked.
    unsafe fn data<'a>(vma: *mut bindings::vm_area_struct) -> ArcBorrow<'a, T::Data> {
        // SAFETY: The caller guarantees the pointer comes from `Arc::into_raw` and that a
        // reference is held for at least 'a.
        unsafe { ArcBorrow::from_raw((*vma).vm_private_data.cast()) }
    }

    /// The data of `vma`, for the fault paths: a plain reference, which needs none of the
    /// layout arithmetic of an [`ArcBorrow`] (the `kernel` crate's, not inlined into modules).
    ///
    /// # Safety
    ///
    /// As for [`Self::data`].
    #[inline]
    unsafe fn data_ref<'a>(vma: *mut bindings::vm_area_struct) -> &'a T::Data {
        // SAFETY: `Arc::into_raw` returned a pointer to the data, which the VMA's reference keeps
        // alive for 'a (the caller's guarantee); an `Arc`'s data is only ever shared.
        unsafe { &*(*vma).vm_private_data.cast::<T::Data>() }
    }

    /// # Safety
    ///
    /// Called by the core for a new VMA copied from one with these operations.
    unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
        // SAFETY: The new VMA was copied from a live one, so `vm_private_data` is that VMA's
        // `Arc` pointer, still referenced by it; the mmap lock is held for writing.
        let data = unsafe { Self::data(vma) };
        T::open(&data);
        // The copy owns a reference of its own, released in `close`.
        let _ = Arc::into_raw(Arc::from(data));
    }

    /// # Safety
    ///
    /// Called by the core, once, for a VMA with these operations that is being removed.
    unsafe extern "C" fn close(vma: *mut bindings::vm_area_struct) {
        // SAFETY: The VMA owns one reference to the `Arc` in `vm_private_data` (taken when the
        // operations were installed, or in `open`), which it gives up here, exactly once.
        let data = unsafe { Arc::<T::Data>::from_raw((*vma).vm_private_data.cast()) };
        T::close(&data);
    }

    /// # Safety
    ///
    /// Called by the core for a fault in a VMA with these operations.
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The core passes a valid `vm_fault` of a VMA with these operations, read-locked
        // during the call.
        let fault = unsafe { VmFault::from_raw(vmf) };
        // SAFETY: The VMA has these operations and holds a reference to its data.
        let data = unsafe { Self::data_ref(fault.vma().as_ptr()) };
        match T::fault(data, fault) {
            Fault::Page(page) => {
                // SAFETY: `page` is a mappable page that outlives this call. The core locks and
                // maps `vmf->page` (or a copy of it), and drops the reference taken here when
                // it is done with it.
                unsafe {
                    vmdev_helper_get_page(page.as_ptr());
                    (*vmf).page = page.as_ptr();
                }
                0
            }
            Fault::Mapped(_) => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            Fault::SigBus => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
        }
    }
}

/// Builds the `struct vm_operations_struct` of a VMA that maps the frames of the memory `M`
/// that `T::Data` owns: `T`'s `open` and `close`, `access` for debuggers, and for
/// [`NewVma::map_pfns_on_fault`] the fault handlers that insert the frames. Valid while any VMA
/// uses it, as [`VmOpsTable`]'s tables are.
struct PfnOpsTable<T, M>(PhantomData<(T, M)>);

impl<T: VmOperations, M: PfnMemory + DeviceMemory> PfnOpsTable<T, M>
where
    T::Data: AsRef<M>,
{
    /// Operations of a VMA mapped whole by [`NewVma::remap_pfns`]: a fault there is a `SIGBUS`.
    const REMAPPED: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(VmOpsTable::<T>::open),
        close: Some(VmOpsTable::<T>::close),
        access: Some(Self::access),
        ..pin_init::zeroed()
    };

    /// Operations of a VMA set up by [`NewVma::map_pfns_on_fault`].
    const ON_FAULT: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(VmOpsTable::<T>::open),
        close: Some(VmOpsTable::<T>::close),
        access: Some(Self::access),
        fault: Some(Self::fault),
        #[cfg(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP)]
        huge_fault: Some(Self::huge_fault),
        // Present so that faults stay under the per-VMA lock (see `map_nothing`).
        map_pages: Some(map_nothing),
        #[cfg(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP)]
        may_split: Some(Self::may_split),
        ..pin_init::zeroed()
    };

    /// Reads or writes (`write` non-zero) up to `len` bytes at `addr` of the VMA for another
    /// process's view of it: `ptrace(PTRACE_PEEKDATA)` and `PTRACE_POKEDATA`, `/proc/<pid>/mem`,
    /// debuggers. `get_user_pages()` refuses a `VM_PFNMAP` VMA, so the core asks this instead.
    /// It copies through the memory's own kernel mapping, at the file offset `addr` maps
    /// (from `vm_pgoff`), up to the end of that page and of the memory; the core calls again
    /// for the next page. `generic_access_phys()`, which `/dev/mem` uses, would `ioremap()`
    /// the frames instead, which arm64 refuses (with a warning) for RAM. Returns the bytes
    /// copied, or `-EINVAL` for a write to a VMA that is not writable (as
    /// `generic_access_phys()` does) or an address past the memory.
    ///
    /// # Safety
    ///
    /// Called by the core, with the mmap lock held, for a VMA with these operations and `addr`
    /// inside it; `buf` is a kernel buffer valid for reads and writes of `len` bytes.
    unsafe extern "C" fn access(
        vma: *mut bindings::vm_area_struct,
        addr: c_ulong,
        buf: *mut c_void,
        len: c_int,
        write: c_int,
    ) -> c_int {
        let einval = -(bindings::EINVAL as c_int);
        // SAFETY: The core passes a live VMA and holds the mmap lock during the call.
        let vma_ref = unsafe { VmaRef::from_raw(vma) };
        // SAFETY: The VMA has these operations and holds a reference to its data.
        let data = unsafe { VmOpsTable::<T>::data_ref(vma) };
        let mem: &M = data.as_ref();
        let len = usize::try_from(len).unwrap_or(0);
        let Some((offset, len)) = access_span(addr, vma_ref.start(), vma_ref.pgoff(), len) else {
            return einval;
        };
        let done = if write == 0 {
            // SAFETY: The caller's `buf` is valid for writes of `len` bytes or more, and no one
            // else uses it during the call.
            let dst = unsafe { core::slice::from_raw_parts_mut(buf.cast(), len) };
            mem.read_into(offset, dst)
        } else if vma_ref.flags() & flags::WRITE != 0 {
            // SAFETY: The caller's `buf` is valid for reads of `len` bytes or more.
            let src = unsafe { core::slice::from_raw_parts(buf.cast(), len) };
            mem.write_from(offset, src)
        } else {
            return einval;
        };
        match done {
            0 => einval,
            // At most a page.
            n => n as c_int,
        }
    }

    /// Called by the core before it splits a VMA with these operations at `addr`: removes the
    /// PUD entry, if any, that maps across `addr`, so that the split finds none.
    ///
    /// The core's split (`__split_vma()` -> `vma_adjust_trans_huge()` in 7.3.4) breaks up a PMD
    /// entry that straddles the new boundary, but not a PUD entry: `split_huge_pmd_address()`
    /// takes the PUD leaf for a table of PMD entries and the kernel oopses. So the whole PUD
    /// span around a boundary that is not PUD-aligned is zapped here, and its next touch maps it
    /// again with the largest entries that fit the smaller VMA (PMD entries, `insert`). The VMA
    /// is write-locked first: `may_split` runs before `__split_vma()` takes that lock itself,
    /// and a fault under the per-VMA lock could otherwise map the span again in between.
    ///
    /// # Safety
    ///
    /// Called by the core, with the mmap lock held for writing, for a VMA with these operations
    /// that is about to be split at `addr`.
    #[cfg(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP)]
    unsafe extern "C" fn may_split(vma: *mut bindings::vm_area_struct, addr: c_ulong) -> c_int {
        // SAFETY: The core passes a live VMA and holds the mmap lock for writing during the call.
        let vma_ref = unsafe { VmaRef::from_raw(vma) };
        // Without PUD entries there is nothing to remove.
        let span = vma_ref.start()..vma_ref.end();
        if let Some(start) = pud_span_across(addr, span).filter(|_| EntrySize::Pud.mappable()) {
            // SAFETY: The mmap lock is held for writing, as `vma_start_write()` requires.
            unsafe { vmdev_helper_vma_start_write(vma) };
            vma_ref.zap_vma_range(start, EntrySize::Pud.bytes());
        }
        0
    }

    /// # Safety
    ///
    /// Called by the core for a fault that found no page-table entry, in a VMA with these
    /// operations.
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The core passes a valid `vm_fault` of a VMA with these operations (whose `Data`
        // is `T::Data`, as `VmOpsTable<T>` expects), read-locked during the call.
        unsafe { Self::insert(vmf, EntrySize::Pte) }
    }

    /// # Safety
    ///
    /// Called by the core for a fault that found no PMD or PUD entry (`order` says which), in
    /// a VMA with these operations, or to make such an entry writable.
    #[cfg(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP)]
    unsafe extern "C" fn huge_fault(
        vmf: *mut bindings::vm_fault,
        order: c_uint,
    ) -> bindings::vm_fault_t {
        let size = match order {
            o if o == EntrySize::Pmd.order() => EntrySize::Pmd,
            o if o == EntrySize::Pud.order() => EntrySize::Pud,
            _ => return bindings::vm_fault_reason_VM_FAULT_FALLBACK,
        };
        if !size.mappable() {
            return bindings::vm_fault_reason_VM_FAULT_FALLBACK;
        }
        // SAFETY: As in `fault`.
        unsafe { Self::insert(vmf, size) }
    }

    /// Maps the faulting address with one entry of `size`, onto the frames of the memory at the
    /// same offset. `VM_FAULT_FALLBACK` (the core then tries the next smaller size) if the entry
    /// would reach outside the VMA or the memory, or its frames are not aligned to its size; a
    /// page outside the memory gets `SIGBUS`.
    ///
    /// # Safety
    ///
    /// `vmf` must be the `struct vm_fault` of a fault in progress in a VMA with these operations.
    unsafe fn insert(vmf: *mut bindings::vm_fault, size: EntrySize) -> bindings::vm_fault_t {
        let fallback = match size {
            EntrySize::Pte => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
            _ => bindings::vm_fault_reason_VM_FAULT_FALLBACK,
        };
        // SAFETY: The caller passes a valid `vm_fault` whose VMA has these operations and is
        // read-locked during the call.
        let fault = unsafe { VmFault::from_raw(vmf) };
        let vma = fault.vma();
        // SAFETY: The VMA has `T`'s operations and holds a reference to its data.
        let data = unsafe { VmOpsTable::<T>::data_ref(vma.as_ptr()) };
        let mem: &M = data.as_ref();
        let addr = fault.address() & !(size.bytes() - 1);
        let span = vma.start()..vma.end();
        let Some(pfn) = entry_pfn(size, addr, span, vma.pgoff(), mem) else {
            return fallback;
        };
        let write = fault.is_write();
        // SAFETY: The VMA is `VM_PFNMAP`, never `VM_MIXEDMAP`, and not a copy-on-write mapping
        // (`map_pfns_on_fault` made it so, and no one changes those flags later), and it is
        // read-locked. The entry covers `[addr, addr + bytes)` inside the VMA, the one that holds
        // the faulting address; its frames are aligned to its size and belong to `mem`, which
        // `data` owns and the VMA keeps alive (`PfnMemory`); the entry is special (`VM_PFNMAP`), so
        // the core takes no reference on their pages.
        let ret = unsafe {
            match size {
                EntrySize::Pte => {
                    bindings::vmf_insert_pfn(vma.as_ptr(), addr as c_ulong, pfn as c_ulong)
                }
                #[cfg(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP)]
                EntrySize::Pmd => bindings::vmf_insert_pfn_pmd(vmf, pfn as c_ulong, write),
                #[cfg(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP)]
                EntrySize::Pud => bindings::vmf_insert_pfn_pud(vmf, pfn as c_ulong, write),
                // Sizes this kernel cannot map (`huge_fault` never asks for them).
                #[allow(unreachable_patterns)]
                _ => return fallback,
            }
        };
        if ret == bindings::vm_fault_reason_VM_FAULT_NOPAGE {
            T::pfns_mapped(data, size);
        }
        ret
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
extern "C" fn map_nothing(
    _vmf: *mut bindings::vm_fault,
    _start_pgoff: c_ulong,
    _end_pgoff: c_ulong,
) -> bindings::vm_fault_t {
    0
}

/// What this module adds to [`VmaRef`].
pub(crate) trait VmaRefExt {
    /// The offset in the mapped file, in pages, of the start of the VMA (`vm_pgoff`).
    fn pgoff(&self) -> usize;
}

impl VmaRefExt for VmaRef {
    fn pgoff(&self) -> usize {
        // SAFETY: The VMA is read-locked (type invariants of `VmaRef`), so no one writes the
        // field concurrently.
        unsafe { (*self.as_ptr()).vm_pgoff }
    }
}

/// A VMA being set up by `f_op->mmap()`, before the driver has chosen how it is backed.
///
/// It reads like a [`VmaRef`] and offers the flag changes a driver may make; the method that
/// picks the backing consumes it, so a VMA is set up one way only.
///
/// # Invariants
///
/// `vma` is a VMA being set up in `mmap()` (the [`VmaNew`] invariants), and nothing but this
/// object sets its `VM_PFNMAP` or `VM_MIXEDMAP` flags, `vm_ops` or `vm_private_data`.
pub(crate) struct NewVma<'a> {
    vma: &'a VmaNew,
}

impl<'a> NewVma<'a> {
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

    /// Makes the mapping unable to ever become writable (`VM_MAYWRITE` cleared); `EINVAL` if it
    /// is writable already.
    pub(crate) fn try_clear_maywrite(&self) -> Result {
        self.vma.try_clear_maywrite()
    }

    /// `VM_DONTEXPAND`: `mremap()` cannot grow the VMA.
    pub(crate) fn set_dontexpand(&self) {
        self.vma.set_dontexpand()
    }

    /// `VM_DONTDUMP`: core dumps leave the VMA out.
    pub(crate) fn set_dontdump(&self) {
        self.vma.set_dontdump()
    }

    /// Maps the whole VMA onto the page frames of `data`'s memory `M` from its page `vm_pgoff` on,
    /// with `remap_pfn_range()` (the VMA becomes `VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP`),
    /// and returns the [`Backed`] that installs `T`'s operations, which must not have a `fault`
    /// handler (checked at compile time).
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
        self.refuse_cow()?;
        let first_page = self.pgoff();
        let pages = (self.vma.end() - self.vma.start()) >> PAGE_SHIFT;
        let end_page = first_page.checked_add(pages).ok_or(EINVAL)?;
        let mem: &M = (*data).as_ref();
        if end_page > mem.page_count() {
            return Err(EINVAL);
        }
        let pfn = mem.first_pfn() + first_page;
        // SAFETY: The VMA is being set up in `mmap()` with the mmap lock held for writing, and it
        // is not `VM_MIXEDMAP` (only `map_on_fault` sets that, and it consumes `self`). The range
        // is exactly the VMA, and the frames `pfn..pfn + pages` belong to `data` (`PfnMemory`);
        // the entries are special (`VM_PFNMAP`), so the core takes no reference on their pages.
        // `data` outlives the mapping: the VMA keeps a reference to it (installed with the
        // `Backed`) until it is closed; if `mmap()` fails instead, the core unmaps the range
        // before the `Backed` drops the reference.
        to_result(unsafe {
            bindings::remap_pfn_range(
                self.vma.as_ptr(),
                self.vma.start() as c_ulong,
                pfn as c_ulong,
                self.vma.end() - self.vma.start(),
                (*self.vma.as_ptr()).vm_page_prot,
            )
        })?;
        Ok(self.backed::<T>(&PfnOpsTable::<T, M>::REMAPPED, data))
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
        self.backed::<T>(&VmOpsTable::<T>::ON_FAULT, data)
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
        self.refuse_cow()?;
        let set = flags::PFNMAP | flags::IO | flags::DONTEXPAND | flags::DONTDUMP;
        // SAFETY: The VMA is being set up and not shared yet (invariants), so this is no data
        // race. `VM_PFNMAP` is valid here: the VMA is not `VM_MIXEDMAP` (only `map_on_fault`
        // sets that, and it consumes `self`) and not copy-on-write (checked above).
        unsafe { (*self.vma.as_ptr()).__bindgen_anon_2.vm_flags = self.vma.flags() | set };
        Ok(self.backed::<T>(&PfnOpsTable::<T, M>::ON_FAULT, data))
    }

    /// `EINVAL` if the VMA is a copy-on-write mapping (private and possibly writable), which a
    /// PFN mapping cannot be.
    fn refuse_cow(&self) -> Result {
        let flags = self.vma.flags();
        if flags & (flags::SHARED | flags::MAYWRITE) == flags::MAYWRITE {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// The [`Backed`] that installs `ops`, a table for `T`, and a reference to `data` when
    /// `mmap()` returns it.
    fn backed<T: VmOperations>(
        self,
        ops: &'static bindings::vm_operations_struct,
        data: Arc<T::Data>,
    ) -> Backed<'a> {
        // INVARIANT: `ops` is a table built for `T`, `data` the `Arc` of a `T::Data` turned into a
        // pointer, and `open` and `release` the functions for `T`; the VMA is being set up.
        Backed {
            vma: self.vma,
            ops,
            data: Arc::into_raw(data).cast(),
            open: open_data::<T>,
            release: release_data::<T>,
        }
    }
}

/// A VMA that [`NewVma`] backed, waiting for `mmap()` to succeed: `mmap()` returns it, and then
/// (only then) its operations and their reference to the data are installed, and
/// [`VmOperations::open`] is called for it.
///
/// A driver that fails `mmap()` after backing the VMA leaks nothing: dropped, this gives the
/// reference back and installs nothing (the core frees a VMA whose `mmap()` failed without
/// calling `close`). Dropping it by mistake does not compile (`#[must_use]`, with the module's
/// `-D warnings`).
///
/// # Invariants
///
/// `vma` is a VMA being set up in `mmap()`; `ops` is a table built for some
/// `T: VmOperations`, `data` a pointer from `Arc::into_raw` of an `Arc<T::Data>` that this
/// object owns, and `open` and `release` are [`open_data::<T>`] and [`release_data::<T>`].
#[must_use = "return it from mmap(): dropped, it installs nothing and the mapping fails"]
pub(crate) struct Backed<'a> {
    vma: &'a VmaNew,
    ops: &'static bindings::vm_operations_struct,
    data: *const c_void,
    open: unsafe fn(*const c_void),
    release: unsafe fn(*const c_void),
}

impl Backed<'_> {
    /// Installs the operations and the reference to the data in the VMA, and calls
    /// [`VmOperations::open`] for it: the VMA is now mapped, and its `close` will give the
    /// reference back.
    ///
    /// # Safety
    ///
    /// Only `f_op->mmap`'s trampoline may call it, with the `Backed` that the driver's `mmap`
    /// returned, and must then return success to the core: a VMA whose `mmap()` fails is freed
    /// without `close`, which would leak the reference.
    pub(crate) unsafe fn install(self) {
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
            (*vma).vm_private_data = this.data.cast_mut();
            (*vma).vm_ops = this.ops;
        }
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
/// `data` must come from `Arc::into_raw` of an `Arc<T::Data>` whose reference is held.
unsafe fn open_data<T: VmOperations>(data: *const c_void) {
    // SAFETY: The caller guarantees that `data` points to a live `T::Data`, only ever shared.
    T::open(unsafe { &*data.cast::<T::Data>() });
}

/// Gives back the reference of a [`Backed`] that was never installed.
///
/// # Safety
///
/// `data` must come from `Arc::into_raw` of an `Arc<T::Data>`, whose reference the caller owns
/// and gives up.
unsafe fn release_data<T: VmOperations>(data: *const c_void) {
    // SAFETY: The caller gives up a reference from `Arc::into_raw` of this type.
    drop(unsafe { Arc::<T::Data>::from_raw(data.cast()) });
}

impl Deref for NewVma<'_> {
    type Target = VmaRef;

    fn deref(&self) -> &VmaRef {
        self.vma
    }
}

#[cfg(CONFIG_KUNIT)]
#[kunit_tests(rust_vmdev_vma_ops)]
mod tests {
    use super::*;

    /// Memory of `pages` frames from `first_pfn` on, for the arithmetic alone.
    struct Frames {
        first_pfn: usize,
        pages: usize,
    }

    // SAFETY: Never mapped: the tests only compute with it.
    unsafe impl PfnMemory for Frames {
        fn first_pfn(&self) -> usize {
            self.first_pfn
        }

        fn page_count(&self) -> usize {
            self.pages
        }
    }

    #[test]
    fn window_is_aligned_and_clipped_to_the_vma() {
        assert_eq!(window_pages(21, 16, 0..100), 16..32);
        assert_eq!(window_pages(16, 16, 0..100), 16..32);
        // From the VMA's first page when the aligned window starts before it; clipped at its end.
        assert_eq!(window_pages(21, 16, 18..100), 18..34);
        assert_eq!(window_pages(21, 16, 0..25), 16..25);
        // A window of 0 or 1 page is the faulting page.
        assert_eq!(window_pages(21, 0, 0..100), 21..22);
        assert_eq!(window_pages(21, 1, 0..100), 21..22);
        // Near the top of the offsets: no overflow.
        assert_eq!(
            window_pages(usize::MAX - 1, 16, 0..usize::MAX),
            usize::MAX - 15..usize::MAX
        );
    }

    #[test]
    fn entry_lies_in_the_vma_and_the_memory_and_is_aligned() {
        let pmd = EntrySize::Pmd;
        let (n, bytes) = (pmd.pages(), pmd.bytes());
        let mem = Frames {
            first_pfn: 4 * n,
            pages: 2 * n,
        };
        let base = 64 * bytes;
        // A VMA of two PMD spans from file page 0: each maps its frames.
        let vma = base..base + 2 * bytes;
        assert_eq!(entry_pfn(pmd, base, vma.clone(), 0, &mem), Some(4 * n));
        assert_eq!(
            entry_pfn(pmd, base + bytes, vma.clone(), 0, &mem),
            Some(5 * n)
        );
        // Past the memory's end, or from an offset whose frames are not aligned.
        assert_eq!(entry_pfn(pmd, base + bytes, vma.clone(), n, &mem), None);
        assert_eq!(entry_pfn(pmd, base, vma.clone(), 1, &mem), None);
        // Reaching past the VMA's end or before its start.
        assert_eq!(
            entry_pfn(pmd, base, base..base + bytes - PAGE_SIZE, 0, &mem),
            None
        );
        assert_eq!(
            entry_pfn(pmd, base, base + PAGE_SIZE..base + bytes, 0, &mem),
            None
        );
        // A PTE anywhere in range; offsets that overflow are refused, not wrapped.
        let pte = EntrySize::Pte;
        assert_eq!(
            entry_pfn(pte, base + PAGE_SIZE, vma.clone(), 3, &mem),
            Some(4 * n + 4)
        );
        assert_eq!(entry_pfn(pte, base, vma.clone(), usize::MAX, &mem), None);
        assert_eq!(entry_pfn(pte, base + 2 * bytes, vma, 0, &mem), None);
    }

    #[test]
    fn pud_span_only_across_a_boundary_inside_the_vma() {
        let span = EntrySize::Pud.bytes();
        let vma = 4 * span..8 * span;
        assert_eq!(
            pud_span_across(5 * span + PAGE_SIZE, vma.clone()),
            Some(5 * span)
        );
        assert_eq!(
            pud_span_across(6 * span - PAGE_SIZE, vma.clone()),
            Some(5 * span)
        );
        // On a span's boundary: the split cuts no entry.
        assert_eq!(pud_span_across(5 * span, vma.clone()), None);
        // A span that reaches outside the VMA holds no PUD entry.
        assert_eq!(
            pud_span_across(span + PAGE_SIZE, span + PAGE_SIZE..8 * span),
            None
        );
        assert_eq!(
            pud_span_across(7 * span + PAGE_SIZE, vma.start..8 * span - PAGE_SIZE),
            None
        );
    }

    #[test]
    fn access_stays_in_its_page() {
        let start = 1 << 30;
        assert_eq!(access_span(start, start, 0, 8), Some((0, 8)));
        assert_eq!(
            access_span(start + PAGE_SIZE + 100, start, 3, 8),
            Some((4 * PAGE_SIZE + 100, 8))
        );
        // Clamped to the end of the page.
        assert_eq!(
            access_span(start + PAGE_SIZE - 3, start, 0, 8),
            Some((PAGE_SIZE - 3, 3))
        );
        // An offset that overflows.
        assert_eq!(access_span(start + PAGE_SIZE, start, usize::MAX, 8), None);
    }
}
