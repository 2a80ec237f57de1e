// SPDX-License-Identifier: GPL-2.0

//! Page frames mapped by number (`VM_PFNMAP`): the memory that may be ([`PfnMemory`]), the
//! sizes of entry that map it ([`EntrySize`]), and the arithmetic that places an entry, splits
//! a VMA or serves `access` on values user space chooses (addresses, offsets, lengths): pure
//! functions, with their KUnit cases below.

use core::ops::Range;
use kernel::page::{PAGE_SHIFT, PAGE_SIZE};

// Out-of-line versions of static inline C functions, from `helpers/vma_ops.c`.
extern "C" {
    fn vmdev_helper_pud_leaf_supported() -> bool;
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
///
/// # Examples
///
/// A range of RAM reserved at boot, which the driver has claimed and mapped for the kernel
/// (with `memremap()`, say): it owns the frames, and its kernel mapping serves `access`.
///
/// ```
/// use core::ptr::{copy_nonoverlapping, NonNull};
/// use kernel::{mm::vma_ops::PfnMemory, page::PAGE_SHIFT};
///
/// /// The claimed range: `len` bytes from frame `first_pfn` on, mapped at `virt`.
/// struct Carveout {
///     virt: NonNull<u8>,
///     first_pfn: usize,
///     len: usize,
/// }
///
/// // SAFETY: The frames are the claim's, which lasts as long as this object, and they are RAM,
/// // which the default cached protection fits.
/// unsafe impl PfnMemory for Carveout {
///     fn first_pfn(&self) -> usize {
///         self.first_pfn
///     }
///
///     fn page_count(&self) -> usize {
///         self.len >> PAGE_SHIFT
///     }
///
///     // Copies through the kernel mapping: user space may write the bytes meanwhile, so no
///     // Rust reference to them may exist.
///     fn read_into(&self, offset: usize, dst: &mut [u8]) -> usize {
///         let Some(left) = self.len.checked_sub(offset) else {
///             return 0;
///         };
///         let n = dst.len().min(left);
///         // SAFETY: `virt` maps `len` bytes and `offset + n <= len`; `dst` holds `n` bytes.
///         unsafe { copy_nonoverlapping(self.virt.as_ptr().add(offset), dst.as_mut_ptr(), n) };
///         n
///     }
///
///     fn write_from(&self, offset: usize, src: &[u8]) -> usize {
///         // As `read_into`, the other way.
/// #       let Some(left) = self.len.checked_sub(offset) else {
/// #           return 0;
/// #       };
/// #       let n = src.len().min(left);
/// #       // SAFETY: `virt` maps `len` bytes and `offset + n <= len`; `src` holds `n` bytes.
/// #       unsafe { copy_nonoverlapping(src.as_ptr(), self.virt.as_ptr().add(offset), n) };
/// #       n
///     }
/// }
/// ```
pub(crate) unsafe trait PfnMemory {
    /// The first page frame number.
    fn first_pfn(&self) -> usize;

    /// How many page frames, from [`Self::first_pfn`] on.
    fn page_count(&self) -> usize;

    /// Copies bytes of the memory from `offset` on into the kernel buffer `dst`, through the
    /// memory's own kernel mapping; returns how many (0 at or past the end). What `access`
    /// reads for a debugger, which `get_user_pages()` cannot serve in a `VM_PFNMAP` VMA.
    fn read_into(&self, offset: usize, dst: &mut [u8]) -> usize;

    /// Copies the kernel buffer `src` into the memory from `offset` on; returns how many bytes
    /// (0 at or past the end). What `access` writes for a debugger.
    fn write_from(&self, offset: usize, src: &[u8]) -> usize;
}

/// The size of a page-table entry that maps page frames: what a fault in a VMA backed by
/// [`VmaSetup::map_pfns_on_fault`](super::VmaSetup::map_pfns_on_fault) inserts.
///
/// # Examples
///
/// ```
/// use kernel::mm::vma_ops::EntrySize;
/// use kernel::page::PAGE_SIZE;
///
/// // A PTE maps one page; each larger entry maps a whole table of the next smaller one.
/// assert_eq!(EntrySize::Pte.bytes(), PAGE_SIZE);
/// let pmd = EntrySize::Pmd.pages();
/// assert_eq!(pmd, 1 << EntrySize::Pmd.order());
/// assert_eq!(EntrySize::Pud.pages(), pmd * pmd);
///
/// // With 4 KiB pages: 2 MiB and 1 GiB.
/// if PAGE_SIZE == 4096 {
///     assert_eq!(EntrySize::Pmd.bytes(), 2 << 20);
///     assert_eq!(EntrySize::Pud.bytes(), 1 << 30);
/// }
///
/// // A PTE can map any frame; the huge sizes only where the architecture, and for a PUD entry
/// // the CPU, can.
/// assert!(EntrySize::Pte.mappable());
/// ```
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
/// this module builds for. `helpers/vma_ops.c` asserts at compile time that the kernel's
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

#[cfg(CONFIG_KUNIT)]
#[kernel::prelude::kunit_tests(rust_vmdev_pfn_map)]
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

        fn read_into(&self, _offset: usize, _dst: &mut [u8]) -> usize {
            0
        }

        fn write_from(&self, _offset: usize, _src: &[u8]) -> usize {
            0
        }
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
