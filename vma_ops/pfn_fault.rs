// SPDX-License-Identifier: GPL-2.0

//! Page frames mapped by number (`VM_PFNMAP`): the memory that may be ([`PfnMemory`]), the
//! sizes of entry that map it ([`EntrySize`]), and the operations of the VMAs that map it
//! ([`PfnOpsTable`]): PFN faults with huge entries, `access` for debuggers, `may_split`.

use super::{map_nothing, VmFault, VmOperations, VmOpsTable, VmaRefExt, VmaSetup};
use crate::memory::DeviceMemory;
use core::{ffi::c_void, marker::PhantomData, ops::Range};
use kernel::{
    bindings,
    mm::virt::{flags, VmaRef},
    page::{PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
};

// Out-of-line versions of static inline C functions, from `vmdev_helpers.c`.
#[cfg_attr(
    all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)),
    expect(
        improper_ctypes,
        reason = "`struct vm_area_struct` holds zero-sized C structs; only pointers to it are passed"
    )
)]
extern "C" {
    fn vmdev_helper_pud_leaf_supported() -> bool;
    #[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
    fn vmdev_helper_vma_start_write(vma: *mut bindings::vm_area_struct);
    #[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
    fn vmdev_helper_zap_pud_spans_of_sources(copy: *mut bindings::vm_area_struct);
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

/// `EINVAL` if the mapping `vma` is copy-on-write (private and possibly writable), which a PFN
/// mapping cannot be: `remap_pfn_range()` would store the physical page number in `vm_pgoff`,
/// and the huge-entry inserts `BUG_ON` it.
pub(super) fn refuse_cow(vma: &impl VmaSetup) -> Result {
    if vma.flags() & (flags::SHARED | flags::MAYWRITE) == flags::MAYWRITE {
        return Err(EINVAL);
    }
    Ok(())
}

/// The frame at which a remap of the whole mapping `vma` of `mem` starts, the one of file page
/// `vm_pgoff`: `EINVAL` if the mapping is copy-on-write or reaches past the end of `mem`. Both
/// mapping hooks' `remap_pfns` check it the same way.
pub(super) fn remap_first_pfn(vma: &impl VmaSetup, mem: &impl PfnMemory) -> Result<usize> {
    refuse_cow(vma)?;
    let first_page = vma.pgoff();
    let pages = (vma.end() - vma.start()) >> PAGE_SHIFT;
    let end_page = first_page.checked_add(pages).ok_or(EINVAL)?;
    if end_page > mem.page_count() {
        return Err(EINVAL);
    }
    Ok(mem.first_pfn() + first_page)
}

/// The size of the page-table entry a fault in a [`MmapVma::map_pfns_on_fault`] VMA inserted.
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
    pub(crate) const fn bytes(self) -> usize {
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

// The arithmetic of the PFN fault, split and access paths, on values user space chooses
// (addresses, offsets, lengths): pure functions, unit-tested in `vma_ops.rs` (`kunit_tests`).

/// The first frame of the entry of `size` at `addr` (aligned to the entry's size) in the VMA
/// that spans the addresses `vma` from file page `pgoff` on: the frame of its first page in
/// `mem`. `None` if the entry would reach outside the VMA or the memory, or its frames are not
/// aligned to its size (the hardware takes the low bits of a huge entry's frame as 0).
pub(super) fn entry_pfn(
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
// Used by `may_split` only where it exists, and by the KUnit cases.
#[cfg(any(
    all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)),
    CONFIG_KUNIT
))]
pub(super) fn pud_span_across(addr: usize, vma: Range<usize>) -> Option<usize> {
    let span = EntrySize::Pud.bytes();
    let start = addr & !(span - 1);
    (start != addr && start >= vma.start && span <= vma.end.saturating_sub(start)).then_some(start)
}

/// Where `access` of `len` bytes at `addr`, in a VMA starting at `start` with file page `pgoff`
/// there, reads or writes: the offset in the memory, and the bytes of `len` in that page.
/// `None` if the offset overflows.
pub(super) fn access_span(
    addr: usize,
    start: usize,
    pgoff: usize,
    len: usize,
) -> Option<(usize, usize)> {
    let in_page = addr % PAGE_SIZE;
    let offset = addr
        .checked_sub(start)
        .and_then(|from_start| pgoff.checked_add(from_start >> PAGE_SHIFT))
        .and_then(|page| page.checked_mul(PAGE_SIZE))
        .and_then(|page| page.checked_add(in_page))?;
    Some((offset, len.min(PAGE_SIZE - in_page)))
}

/// Builds the `struct vm_operations_struct` of a VMA that maps the frames of the memory `M`
/// that `T::Data` owns: `T`'s `open` and `close`, `access` for debuggers, and for
/// [`MmapVma::map_pfns_on_fault`] the fault handlers that insert the frames. Valid while any VMA
/// uses it, as [`VmOpsTable`]'s tables are.
pub(super) struct PfnOpsTable<T, M>(PhantomData<(T, M)>);

impl<T: VmOperations, M: PfnMemory + DeviceMemory> PfnOpsTable<T, M>
where
    T::Data: AsRef<M>,
{
    /// Operations of a VMA mapped whole by [`MmapVma::remap_pfns`]: a fault there is a `SIGBUS`.
    pub(super) const REMAPPED: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(VmOpsTable::<T>::open),
        close: Some(VmOpsTable::<T>::close),
        access: Some(Self::access),
        ..pin_init::zeroed()
    };

    /// Operations of a VMA set up by [`MmapVma::map_pfns_on_fault`].
    pub(super) const ON_FAULT: bindings::vm_operations_struct = bindings::vm_operations_struct {
        #[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
        open: Some(Self::open),
        #[cfg(not(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed))))]
        open: Some(VmOpsTable::<T>::open),
        close: Some(VmOpsTable::<T>::close),
        access: Some(Self::access),
        fault: Some(Self::fault),
        #[cfg(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP)]
        huge_fault: Some(Self::huge_fault),
        // Present so that faults stay under the per-VMA lock (see `map_nothing`). That is sound
        // because `Self::fault` and `Self::huge_fault` only read the VMA and the data, and
        // insert entries into the faulting VMA alone: nothing they do needs `mmap_lock`.
        map_pages: Some(map_nothing),
        #[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
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
        // SAFETY: The VMA has these operations and holds a reference to its data, if any.
        let Some(data) = (unsafe { VmOpsTable::<T>::data_ref(vma) }) else {
            // A VMA whose setup failed half way (see `VmOpsTable::data`) maps nothing.
            return einval;
        };
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
    #[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
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

    /// Called by the core for a new VMA copied from one with these operations: before the copy
    /// of `mremap()` moves the page tables, removes the PUD entries of the VMA it is copied
    /// from (`vmdev_helpers.c` says why and how), then does what [`VmOpsTable`]'s `open` does.
    ///
    /// The core's `move_page_tables()` (7.3.4) cannot move a PUD leaf of a PFN map: it clears
    /// it as a bad entry without flushing the TLB, which leaves the old address mapped onto the
    /// memory, and an anonymous mapping placed there later reads and writes the device through
    /// it. `may_split` runs only where a move splits the VMA, and `vm_ops->mremap` only after
    /// the move, so this is the one callback that runs before it.
    ///
    /// # Safety
    ///
    /// As for [`VmOpsTable`]'s `open`: called by the core, with the copy's mm write-locked.
    #[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
    unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
        if EntrySize::Pud.mappable() {
            // SAFETY: The core passes the new VMA, holding its mm's mmap lock for writing.
            unsafe { vmdev_helper_zap_pud_spans_of_sources(vma) };
        }
        // SAFETY: The caller's guarantee.
        unsafe { VmOpsTable::<T>::open(vma) };
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
    // Inlined into `fault` and `huge_fault` (a plain `#[inline]` left it out of line): one call
    // less per fault.
    #[inline(always)]
    unsafe fn insert(vmf: *mut bindings::vm_fault, size: EntrySize) -> bindings::vm_fault_t {
        let fallback = match size {
            EntrySize::Pte => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
            _ => bindings::vm_fault_reason_VM_FAULT_FALLBACK,
        };
        // SAFETY: The caller passes a valid `vm_fault` whose VMA has these operations and is
        // read-locked during the call.
        let fault = unsafe { VmFault::from_raw(vmf) };
        let vma = fault.vma();
        // SAFETY: The VMA has `T`'s operations and holds a reference to its data, if any.
        let Some(data) = (unsafe { VmOpsTable::<T>::data_ref(vma.as_ptr()) }) else {
            // A VMA whose setup failed half way (see `VmOpsTable::data`) maps nothing.
            return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
        };
        let mem: &M = data.as_ref();
        let addr = fault.address() & !(size.bytes() - 1);
        let span = vma.start()..vma.end();
        let Some(pfn) = entry_pfn(size, addr, span, vma.pgoff(), mem) else {
            return fallback;
        };
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
                EntrySize::Pmd => {
                    bindings::vmf_insert_pfn_pmd(vmf, pfn as c_ulong, fault.is_write())
                }
                #[cfg(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP)]
                EntrySize::Pud => {
                    bindings::vmf_insert_pfn_pud(vmf, pfn as c_ulong, fault.is_write())
                }
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
