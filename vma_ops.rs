// SPDX-License-Identifier: GPL-2.0

//! The VMA API: mapping driver memory into user space, safely.
//!
//! Linux 7.3's `kernel` crate can configure a VMA at `mmap()` time ([`VmaNew`]) and insert
//! single pages into a `VM_MIXEDMAP` VMA, but it has no abstraction for `struct
//! vm_operations_struct`, for `remap_pfn_range()` or for `f_op->mmap_prepare`. This module adds
//! them. A driver sets a mapping up in one of two hooks:
//!
//! - `f_op->mmap_prepare`, where mm is moving every driver (`mmap` is deprecated in 7.3): the
//!   driver gets a [`VmaDesc`], the description of a VMA that does not exist yet, and returns a
//!   [`Prepared`]; the core creates the VMA, applies the description (and remaps the frames for
//!   [`VmaDesc::remap_pfns`]), then calls `vm_ops->mapped`, where the VMA takes its reference to
//!   the data, from the file ([`prepare::FileData`]).
//! - `f_op->mmap`, the classic hook: the driver gets the VMA itself, as a [`MmapVma`], and returns
//!   a [`Backed`], which carries the VMA's reference to the data and installs it once `mmap`
//!   succeeds.
//!
//! Both offer the same flag changes ([`VmaSetup`]) and the same three backings, one per VMA:
//!
//! - [`MmapVma::remap_pfns`]: the whole VMA is mapped now onto page frames the driver owns
//!   ([`PfnMemory`]), with special entries the core never takes a page reference through; the
//!   VMA is `VM_PFNMAP | VM_IO` and nothing ever faults.
//! - [`MmapVma::map_on_fault`]: nothing is mapped now; each first touch of a page calls
//!   [`VmOperations::fault`], which hands the core a [`MappablePage`] or maps a window of them
//!   itself ([`VmFault::map_window`]).
//! - [`MmapVma::map_pfns_on_fault`]: nothing is mapped now; each first touch maps the page frames
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
//!   whose safe `set_mixedmap()` allows it, only a [`MmapVma`] or a [`VmaDesc`], which the one
//!   method that picks the backing consumes (`pfn_and_mixed.rs`, `prepare_pfn_and_mixed.rs`).
//! - `mmap_prepare` succeeding without backing the mapping: only a backing makes the [`Prepared`]
//!   it must return (`prepared_without_backing.rs`).
//! - Taking a reference in `mmap_prepare`, where the mapping may still fail or merge: the
//!   backings of a [`VmaDesc`] take no data; `vm_ops->mapped` takes the VMA's reference from the
//!   file, and operations whose data the file does not hold do not compile
//!   (`prepare_other_data.rs`). A VMA whose `mapped` never ran (its remap action failed) has a
//!   null `vm_private_data`, and its `close` gives nothing back (`*.inject_mmap` in the suite).
//! - A PFN-mapped VMA with a fault handler, whose inserted pages no zap would release:
//!   [`MmapVma::remap_pfns`] and [`MmapVma::map_pfns_on_fault`] do not compile for operations that
//!   implement `fault`, and [`MmapVma::map_on_fault`] does not compile for operations that lack
//!   it (`fault_on_pfn_vma.rs`, `on_fault_without_handler.rs`).
//! - A huge entry that maps frames the VMA does not own, or a copy-on-write PFN mapping (both a
//!   `BUG_ON` or worse in `vmf_insert_pfn_pmd()`): the frames of each entry are computed, checked
//!   against the memory and aligned by this module, never by the driver.
//! - Handing the core a page it cannot map: the fault path takes only [`MappablePage`], which
//!   memory types create (unsafely, with the proof) for their order-0, refcounted pages
//!   (`unmappable_page.rs`), and a fault handler has no other way to map one: its
//!   [`FaultVma`](page_fault::FaultVma) is not a `VmaRef`, so it has no `as_mixedmap_vma()`
//!   (`page_from_fault_vma.rs`).
//! - Mapping into a VMA from `open` (before a copy's page tables exist) or `close` (after they
//!   are gone, which would leave an entry no VMA owns): they get the data, not the VMA
//!   (`insert_from_close.rs`).
//! - Freeing mapped frames from `f_op->mmap` (fail `mmap()` or drop the [`Backed`] after
//!   remapping, and the VMA's reference to the memory is gone while the entries stay until the
//!   core unmaps): [`MmapVma::remap_pfns`] maps nothing itself; the [`Backed`] it returns maps
//!   the frames once `mmap()` has returned it, holding the reference until the VMA owns it.
//!   Dropping the `Backed` is also flagged (`#[must_use]`: `err_after_backing.rs`), since the
//!   mapping then fails.
//! - Deadlocking a fault against a writer of `mmap_lock`: a fault may hold only its VMA's lock,
//!   and what it gets, [`VmFault`] and its [`FaultVma`](page_fault::FaultVma), leads to no `mm`
//!   and so to no `mmap_read_lock()` (`deadlock_in_fault.rs`). (A handler can still reach
//!   the current task's `mm`, through upstream's `current!().mm()` or `mm_view.rs`'s
//!   `MmReadLocked::current()`; this module cannot take that away.)
//! - Using a VMA whose setup failed half way: when the remap of `mmap_prepare` fails and the
//!   core cannot unmap the VMA (`mmap_action_finish()` ignores `do_munmap()`'s error), the VMA
//!   lives on with these operations and no data; every callback gets the data as an `Option`
//!   and answers such a VMA as one that maps nothing (`remap.half_set_up` in the suite).
//! - Telling the core that a fault mapped its page when it did not: [`Mapped`], the proof
//!   [`VmFault::map_window`] gives, borrows the fault it proves and cannot be kept for another
//!   (`replayed_mapped.rs`).
//! - Sleeping under `rcu_read_lock()`: no driver code runs in `map_pages`, see
//!   [`VmOpsTable`].
//! - A split of a VMA across a PUD entry, which the 7.3.4 core cannot do (it oopses), or a move
//!   of one by `mremap()`, which it turns into a stale translation: the VMAs of
//!   [`MmapVma::map_pfns_on_fault`] remove such an entry before any split (`may_split`) and
//!   before a move (the copy's `open`; see [`PfnOpsTable`]), and map PUD entries only where the
//!   CPU can walk them ([`EntrySize::mappable`]). With `kernel-patches/` in the kernel the core
//!   does both itself: a build with `--cfg vmdev_core_fixed` (the suite's, never the default)
//!   leaves them out.
//!
//! The arithmetic on what user space chooses (offsets, addresses, lengths) is in pure functions
//! with KUnit cases (`mod tests`; `module.kunit` runs them in the test VM).
//!
//! # Layout
//!
//! This file holds the callbacks a driver writes ([`VmOperations`]) and the tables that call
//! them; `vma_ops/page_fault.rs` the page faults and their window, `vma_ops/pfn_fault.rs` the
//! frames mapped by number (faults with huge entries, `access`, `may_split`),
//! `vma_ops/setup.rs` what `f_op->mmap` does with a VMA ([`MmapVma`], [`Backed`]), and
//! `vma_ops/prepare.rs` what `f_op->mmap_prepare` does ([`VmaDesc`], [`Prepared`], `mapped`).
//!
//! # Lifetimes
//!
//! Each VMA holds an `Arc` to its [`VmOperations::Data`] from `mmap()` (its `mapped` with
//! `mmap_prepare`, or its creation as a copy) to its `close`, so the memory outlives every
//! mapping of it. The operations table and
//! the callbacks are module code: the VMA holds a reference to its file (`vm_file`), and the
//! file holds its `f_op->owner`, this module (see `chardev`), so the module cannot be unloaded
//! before the last VMA's `close` has returned.

mod page_fault;
mod pfn_fault;
mod prepare;
mod setup;

pub(crate) use page_fault::{MappablePage, VmFault};
pub(crate) use pfn_fault::{EntrySize, PfnMemory};
pub(crate) use prepare::{Prepared, VmaDesc};
pub(crate) use setup::{Backed, MmapVma};

use core::marker::PhantomData;
use kernel::{
    bindings,
    mm::virt::{vm_flags_t, VmaRef},
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ForeignOwnable,
};

// Out-of-line versions of static inline C functions, from `vmdev_helpers.c`.
#[expect(
    improper_ctypes,
    reason = "`struct page` ends in a zero-length array; only pointers to it are passed"
)]
extern "C" {
    fn vmdev_helper_get_page(page: *mut bindings::page);
}

/// What a [`VmOperations::fault`] handler tells the core.
pub(crate) enum FaultResult<'a> {
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

/// The callbacks of a VMA, turned into a `struct vm_operations_struct` by [`VmOpsTable`].
///
/// Each VMA that has these operations owns one reference to an `Arc<Self::Data>`, kept in its
/// `vm_private_data`, from the end of a successful `mmap()` (or the VMA's creation as a copy or
/// split) to its [`VmOperations::close`]. So the data outlives every mapping that uses it.
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

    /// A page of a VMA set up by [`MmapVma::map_on_fault`] that has no page table entry was
    /// touched. Runs in process context and may sleep, under the VMA's read lock (its per-VMA
    /// lock or `mmap_lock`). Required there; not allowed with [`MmapVma::remap_pfns`].
    fn fault<'a>(_data: &'a Self::Data, _vmf: &'a VmFault) -> FaultResult<'a> {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// A fault in a VMA set up by [`MmapVma::map_pfns_on_fault`] mapped one entry of `size`.
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
    /// Operations of a VMA mapped on fault by [`MmapVma::map_on_fault`].
    const ON_FAULT: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(Self::open),
        close: Some(Self::close),
        fault: Some(Self::fault),
        // Present so that faults stay under the per-VMA lock; maps nothing (see `map_nothing`).
        // That is sound because `Self::fault` only reads the VMA, the fault and the data, and
        // maps into the faulting VMA alone (`VmFault::map_window`): nothing it does needs
        // `mmap_lock`.
        map_pages: Some(map_nothing),
        ..pin_init::zeroed()
    };

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
    unsafe fn data<'a>(vma: *mut bindings::vm_area_struct) -> Option<ArcBorrow<'a, T::Data>> {
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
    unsafe fn data_ref<'a>(vma: *mut bindings::vm_area_struct) -> Option<&'a T::Data> {
        // SAFETY: As for `Self::data`, which the caller guarantees.
        let data: *const T::Data = &*unsafe { Self::data(vma) }?;
        // SAFETY: The VMA's reference keeps the data alive for 'a (the caller's guarantee); an
        // `Arc`'s data is only ever shared.
        Some(unsafe { &*data })
    }

    /// # Safety
    ///
    /// Called by the core for a new VMA copied from one with these operations.
    unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
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
    unsafe extern "C" fn close(vma: *mut bindings::vm_area_struct) {
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

    /// # Safety
    ///
    /// Called by the core for a fault in a VMA with these operations.
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The core passes a valid `vm_fault` of a VMA with these operations, read-locked
        // during the call.
        let fault = unsafe { VmFault::from_raw(vmf) };
        // SAFETY: The VMA has these operations and holds a reference to its data, if any.
        let Some(data) = (unsafe { Self::data_ref(fault.vma().as_ptr()) }) else {
            // A VMA whose setup failed half way (see `data`) maps nothing.
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

/// What a driver may read and change of a mapping being set up, in either hook: a [`MmapVma`]
/// in `f_op->mmap`, a [`VmaDesc`] in `f_op->mmap_prepare`.
pub(crate) trait VmaSetup {
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

#[cfg(CONFIG_KUNIT)]
#[kunit_tests(rust_vmdev_vma_ops)]
mod tests {
    use super::page_fault::window_pages;
    use super::pfn_fault::{access_span, entry_pfn, pud_span_across};
    use super::*;
    use kernel::page::PAGE_SIZE;

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
