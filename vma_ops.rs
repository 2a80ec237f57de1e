// SPDX-License-Identifier: GPL-2.0

//! The VMA API: mapping driver memory into user space, safely.
//!
//! Linux 7.3's `kernel` crate can configure a VMA at `mmap()` time
//! ([`VmaNew`](kernel::mm::virt::VmaNew)) and insert single pages into a `VM_MIXEDMAP` VMA, but
//! it has no abstraction for `struct vm_operations_struct`, for `remap_pfn_range()` or for
//! `f_op->mmap_prepare`. This module adds them. A driver sets a mapping up in one of two hooks:
//!
//! - `f_op->mmap_prepare`, where mm is moving every driver (`mmap` is deprecated in 7.3): the
//!   driver gets a [`VmaDesc`], the description of a VMA that does not exist yet, and returns a
//!   [`Prepared`]; the core creates the VMA, applies the description (and remaps the frames for
//!   [`VmaSetup::remap_pfns`]), then calls `vm_ops->mapped`, where the VMA takes its reference to
//!   the data, from the file ([`FileData`]).
//! - `f_op->mmap`, the classic hook: the driver gets the VMA itself, as a [`MmapVma`], and returns
//!   a [`Backed`], which carries the VMA's reference to the data and installs it once `mmap`
//!   succeeds.
//!
//! Both are a [`VmaSetup`]: the same flag changes and the same four backings, one per VMA,
//! written once for both hooks:
//!
//! - [`VmaSetup::remap_pfns`]: the whole VMA is mapped now onto page frames the driver owns
//!   ([`PfnMemory`]), with special entries the core never takes a page reference through; the
//!   VMA is `VM_PFNMAP | VM_IO` and nothing ever faults.
//! - [`VmaSetup::map_on_fault`]: nothing is mapped now; each first touch of a page calls
//!   [`VmOperations::fault`], which hands the core a [`MappablePage`] or maps a window of them
//!   itself ([`VmFault::map_window`]).
//! - [`VmaSetup::map_pfns_on_fault`]: nothing is mapped now; each first touch maps the page frames
//!   of [`PfnMemory`] around it with the largest page-table entry that fits ([`EntrySize`]: a
//!   PUD or PMD entry where the frames, the VMA and the address are aligned, else a PTE). The
//!   VMA is `VM_PFNMAP | VM_IO`; this module inserts the frames itself, and the driver only
//!   hears about it ([`VmOperations::pfns_mapped`]).
//! - [`VmaSetup::map_folios_on_fault`]: nothing is mapped now; the first touch of an aligned
//!   span that the VMA covers calls [`VmOperations::huge_fault`], which maps a whole
//!   [`PmdFolio`] with one PMD entry ([`PmdFault::insert_folio`]), and any other first touch
//!   calls [`VmOperations::fault`] for the page. The VMA is neither `VM_PFNMAP` nor
//!   `VM_MIXEDMAP`: every entry holds a reference, as a file's do.
//!
//! The VMAs of both PFN backings can be read and written by `ptrace()`, `/proc/<pid>/mem` and
//! debuggers, which `get_user_pages()` refuses for `VM_PFNMAP`: their `access` operation copies
//! through the memory's own kernel mapping ([`PfnMemory::read_into`], `pfn_ops.rs`).
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
//! - A hook applying a backing the driver made itself (frames the memory does not own, another
//!   table): only [`VmaSetup`]'s four backings make a `Backing`, after their checks, and only
//!   this module can name it or the `Hook` that applies it (`forged_backing.rs`).
//! - `mmap_prepare` succeeding without backing the mapping: only a backing makes the [`Prepared`]
//!   it must return (`prepared_without_backing.rs`).
//! - Taking a reference in `mmap_prepare`, where the mapping may still fail or merge: the
//!   backings of a [`VmaDesc`] take no data; `vm_ops->mapped` takes the VMA's reference from the
//!   file, and operations whose data the file does not hold do not compile
//!   (`prepare_other_data.rs`). A VMA whose `mapped` never ran (its remap action failed) has a
//!   null `vm_private_data`, and its `close` gives nothing back (`*.inject_mmap` in the suite).
//! - A PFN-mapped VMA with a fault handler, whose inserted pages no zap would release:
//!   [`VmaSetup::remap_pfns`] and [`VmaSetup::map_pfns_on_fault`] do not compile for operations
//!   that implement `fault`, and [`VmaSetup::map_on_fault`] does not compile for operations that
//!   lack it (`fault_on_pfn_vma.rs`, `on_fault_without_handler.rs`).
//! - A huge entry that maps frames the VMA does not own, or a copy-on-write PFN mapping (both a
//!   `BUG_ON` or worse in `vmf_insert_pfn_pmd()`): the frames of each entry are computed, checked
//!   against the memory and aligned by this module, never by the driver.
//! - Handing the core a page it cannot map: the fault path takes only [`MappablePage`], which
//!   memory types create (unsafely, with the proof) for their order-0, refcounted pages
//!   (`unmappable_page.rs`), and a fault handler has no other way to map one: its
//!   [`FaultVma`] is not a `VmaRef`, so it has no `as_mixedmap_vma()`
//!   (`page_from_fault_vma.rs`).
//! - Mapping into a VMA from `open` (before a copy's page tables exist) or `close` (after they
//!   are gone, which would leave an entry no VMA owns): they get the data, not the VMA
//!   (`insert_from_close.rs`).
//! - Freeing mapped frames from `f_op->mmap` (fail `mmap()` or drop the [`Backed`] after
//!   remapping, and the VMA's reference to the memory is gone while the entries stay until the
//!   core unmaps): [`VmaSetup::remap_pfns`] maps nothing itself in this hook; the [`Backed`] it
//!   returns maps the frames once `mmap()` has returned it, holding the reference until the VMA
//!   owns it.
//!   Dropping the `Backed` is also flagged (`#[must_use]`: `err_after_backing.rs`), since the
//!   mapping then fails.
//! - Deadlocking a fault against a writer of `mmap_lock`: a fault may hold only its VMA's lock,
//!   and what it gets, [`VmFault`] and its [`FaultVma`], leads to no `mm`
//!   and so to no `mmap_read_lock()` (`deadlock_in_fault.rs`). (A handler can still reach
//!   the current task's `mm`, through upstream's `current!().mm()` or `mm_view.rs`'s
//!   `MmReadLocked::current()`; this module cannot take that away.)
//! - Using a VMA whose setup failed half way: when the remap of `mmap_prepare` fails and the
//!   core cannot unmap the VMA (`mmap_action_finish()` ignores `do_munmap()`'s error), the VMA
//!   lives on with these operations and no data; every callback gets the data as an `Option`
//!   and answers such a VMA as one that maps nothing (`remap.half_set_up` in the suite).
//! - Telling the core that a fault mapped its page when it did not: [`WindowMapped`], the proof
//!   [`VmFault::map_window`] gives, borrows the fault it proves and cannot be kept for another
//!   (`replayed_mapped.rs`).
//! - Mapping a folio of the wrong size with a PMD entry: [`PmdFault::insert_folio`] takes a
//!   [`PmdFolio`], and a [`Folio`]'s order is the one it was allocated with
//!   (`wrong_folio_order.rs`).
//! - Mapping a folio by PMD into a `VM_PFNMAP` or `VM_MIXEDMAP` VMA, whose zap would take the entry
//!   for a special one and keep the folio's reference and rmap entry for ever: only the folio
//!   backing's VMAs call `huge_fault`, the other backings do not compile for operations that
//!   implement it, and only the [`PmdFault`] it gets inserts a folio (`folio_in_mixed_vma.rs`,
//!   `folio_in_pfn_vma.rs`, `folio_from_page_fault.rs`, `folios_without_huge_fault.rs`).
//! - Sleeping under `rcu_read_lock()`: no driver code runs in `map_pages` (`map_nothing` in
//!   `operations.rs`).
//! - A split of a VMA across a PUD entry, which the 7.3.4 core cannot do (it oopses), or a move
//!   of one by `mremap()`, which it turns into a stale translation: the VMAs of
//!   [`VmaSetup::map_pfns_on_fault`] remove such an entry before any split (`may_split`) and
//!   before a move (the copy's `open`; see `pfn_ops.rs`), and map PUD entries only where the
//!   CPU can walk them ([`EntrySize::mappable`]). With `kernel-patches/` in the kernel the core
//!   does both itself: a build with `--cfg vmdev_core_fixed` (the suite's, never the default)
//!   leaves them out.
//!
//! The arithmetic on what user space chooses (offsets, addresses, lengths) is in pure functions
//! with KUnit cases beside them (`vm_fault.rs`, `pfn_map.rs`; `module.kunit` runs them in the
//! test VM).
//!
//! # Layout
//!
//! Each file holds one thing, with its KUnit cases beside it; each names only `kernel::` and
//! its siblings, from the ground up:
//!
//! - `vma_ref.rs`: what this module reads of a VMA that [`VmaRef`](kernel::mm::virt::VmaRef)
//!   does not offer ([`VmaRefExt`]).
//! - `pfn_map.rs`: memory mapped by frame number ([`PfnMemory`]), the entry sizes that map it
//!   ([`EntrySize`]), and the arithmetic that places them.
//! - `vm_fault.rs`: a fault as a handler sees it ([`VmFault`], [`FaultVma`], [`MappablePage`],
//!   [`FaultResult`], [`WindowMapped`]).
//! - `folio.rs`: owned folios of an order ([`Folio`], [`PmdFolio`]) and arrays of them
//!   ([`Folios`]).
//! - `operations.rs`: the callbacks a driver writes ([`VmOperations`]) and the C callbacks
//!   every table shares.
//! - `page_ops.rs` and `pfn_ops.rs`: the operations tables of the page and the PFN backings.
//! - `pmd_fault.rs`: the PMD fault of a folio-backed VMA ([`PmdFault`]), which maps a whole folio.
//! - `folio_ops.rs`: the operations table of the folio backing.
//! - `mapped.rs`: `vm_ops->mapped`, where a VMA of `mmap_prepare` takes its reference
//!   ([`FileData`]).
//! - `vma_setup.rs`: a mapping being set up and its four backings ([`VmaSetup`]).
//! - `mmap.rs` and `mmap_prepare.rs`: the two hooks ([`MmapVma`] and [`Backed`];
//!   [`VmaDesc`] and [`Prepared`]).
//!
//! # Lifetimes
//!
//! Each VMA holds an `Arc` to its [`VmOperations::Data`] from `mmap()` (its `mapped` with
//! `mmap_prepare`, or its creation as a copy) to its `close`, so the memory outlives every
//! mapping of it. The operations table and
//! the callbacks are module code: the VMA holds a reference to its file (`vm_file`), and the
//! file holds its `f_op->owner`, this module (see `chardev`), so the module cannot be unloaded
//! before the last VMA's `close` has returned.

mod folio;
mod folio_ops;
mod mapped;
mod mmap;
mod mmap_prepare;
mod operations;
mod page_ops;
mod pfn_map;
mod pfn_ops;
mod pmd_fault;
mod vm_fault;
mod vma_ref;
mod vma_setup;

pub(crate) use folio::{Folios, PmdFolio, PMD_ORDER};
pub(crate) use mmap::{Backed, MmapVma};
pub(crate) use mmap_prepare::{Prepared, VmaDesc};
pub(crate) use operations::VmOperations;
pub(crate) use pfn_map::{EntrySize, PfnMemory};
pub(crate) use pmd_fault::{PmdFault, PmdMapped};
pub(crate) use vm_fault::{FaultResult, MappablePage, VmFault};
pub(crate) use vma_ref::VmaRefExt;
pub(crate) use vma_setup::VmaSetup;
// Types a driver meets through the API above but need not name.
#[allow(
    unused_imports,
    reason = "the API's types, named by drivers that need them"
)]
pub(crate) use {
    folio::Folio,
    mapped::FileData,
    vm_fault::{FaultVma, WindowMapped},
};
