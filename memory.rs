// SPDX-License-Identifier: GPL-2.0

//! Device memory: the two kinds of buffer a driver lets user space map.
//!
//! - [`PhysBuffer`]: physically contiguous memory, from the page allocator or a range reserved at
//!   boot and claimed in the resource tree. Its page frames belong to it alone, so it may be
//!   mapped by page frame number ([`PfnMemory`]).
//! - [`VmallocBuffer`]: virtually contiguous `vmalloc()` memory, whose pages are ordinary order-0
//!   pages that the fault path may hand to the core ([`MappablePage`]).
//! - [`FolioBuffer`]: folios of as many pages as a PMD entry maps ([`PmdFolio`]), which a fault
//!   maps whole or a page at a time.
//!
//! Memory that is mapped into a process can change under the kernel's feet at any time, so no
//! Rust reference to its contents ever exists: the kernel reads and writes it only through
//! `copy_{to,from}_iter()` on raw pointers ([`DeviceMemory`]).

use crate::vma_ops::{Folios, MappablePage, PfnMemory, PmdFolio, PMD_ORDER};
use core::ptr::NonNull;
use kernel::{
    alloc::{allocator::Vmalloc, Allocator, NumaNode},
    bindings,
    io::resource::{Flags, Region, Resource},
    iov::{IovIterDest, IovIterSource},
    page::{PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
    str::CString,
};

// Out-of-line versions of static inline C functions, from `helpers/vmdev.c`.
#[expect(
    improper_ctypes,
    reason = "`struct page` ends in a zero-length array; only pointers to it are passed"
)]
extern "C" {
    fn vmdev_helper_virt_to_page(addr: *const c_void) -> *mut bindings::page;
    fn vmdev_helper_page_to_pfn(page: *const bindings::page) -> c_ulong;
    fn vmdev_helper_boot_reserved(base: bindings::phys_addr_t, size: usize) -> bool;
}

/// Returns how many whole pages `size` bytes are, or `EINVAL` unless it is a non-zero multiple
/// of the page size.
fn size_to_pages(size: usize) -> Result<usize> {
    if size == 0 || size % PAGE_SIZE != 0 {
        return Err(EINVAL);
    }
    Ok(size >> PAGE_SHIFT)
}

/// A kernel mapping of memory that may also be mapped into user space.
///
/// # Invariants
///
/// `ptr` is valid for reads and writes of `len` bytes for as long as this object exists, and
/// `len` is a non-zero multiple of [`PAGE_SIZE`].
struct KernelBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: The buffer is plain memory with no thread affinity; it is only accessed by copies
// through raw pointers, which are as thread-safe as the memory they copy.
unsafe impl Send for KernelBuffer {}
// SAFETY: `&KernelBuffer` only allows copies in and out of the memory, see `Send`.
unsafe impl Sync for KernelBuffer {}

impl KernelBuffer {
    /// The bytes `[offset, offset + want)`, clamped to the buffer: a pointer and a length.
    fn span(&self, offset: usize, want: usize) -> (*mut u8, usize) {
        let offset = offset.min(self.len);
        let len = want.min(self.len - offset);
        // SAFETY: `offset <= self.len`, so the result is inside the allocation or one past it.
        (unsafe { self.ptr.as_ptr().add(offset) }, len)
    }
}

/// Memory a driver lets user space map, and read or write with `read()`/`write()`.
pub(crate) trait DeviceMemory {
    /// The size in bytes: a non-zero multiple of the page size.
    fn len(&self) -> usize;

    /// Copies bytes from `offset` on into `dst`; returns how many (0 at or past the end).
    fn read_at(&self, offset: usize, dst: &mut IovIterDest<'_>) -> usize;

    /// Copies bytes from `src` into the memory from `offset` on; returns how many (0 at or past
    /// the end).
    fn write_at(&self, offset: usize, src: &mut IovIterSource<'_>) -> usize;
}

impl<T: AsRef<KernelBuffer>> DeviceMemory for T {
    fn len(&self) -> usize {
        self.as_ref().len
    }

    fn read_at(&self, offset: usize, dst: &mut IovIterDest<'_>) -> usize {
        let (ptr, len) = self.as_ref().span(offset, dst.len());
        // SAFETY: `span` returned `len` bytes inside the buffer, valid for reads by the
        // `KernelBuffer` invariants; `dst` is a valid destination iterator.
        unsafe { bindings::_copy_to_iter(ptr.cast(), len, dst.as_raw()) }
    }

    fn write_at(&self, offset: usize, src: &mut IovIterSource<'_>) -> usize {
        let (ptr, len) = self.as_ref().span(offset, src.len());
        // SAFETY: `span` returned `len` bytes inside the buffer, valid for writes by the
        // `KernelBuffer` invariants; `src` is a valid source iterator.
        unsafe { bindings::_copy_from_iter(ptr.cast(), len, src.as_raw()) }
    }
}

/// Where the memory of a [`PhysBuffer`] came from, which says how to give it back.
enum PhysSource {
    /// `alloc_pages_exact()`.
    Allocated,
    /// A range reserved at boot, claimed in the resource tree (`iomem_resource`) for as long as
    /// the buffer lives, and mapped with `memremap()`.
    Reserved(#[expect(dead_code, reason = "held for its Drop: the claim")] Region),
    /// RAM that `reserve_mem=SIZE:ALIGN:NAME` on the kernel command line reserved in memblock
    /// under this buffer's name, mapped with `memremap()`: the name is the claim.
    ReserveMem,
}

/// Physically contiguous memory, mapped into user space by page frame number.
///
/// # Invariants
///
/// - `buf` covers physical pages `first_pfn..first_pfn + buf.len / PAGE_SIZE`, which belong to
///   this object for its whole life.
/// - With [`PhysSource::Allocated`], `buf.ptr` is the address `alloc_pages_exact()` returned for
///   `buf.len` bytes.
/// - With [`PhysSource::Reserved`], `buf.ptr` is what `memremap()` returned for the range, which
///   was reserved at boot, is disjoint from the System RAM the kernel manages, and is claimed
///   by the source's [`Region`].
/// - With [`PhysSource::ReserveMem`], `buf.ptr` is what `memremap()` returned for the range
///   `reserve_mem=` reserved under the name the buffer was made for, which the page allocator
///   never gets.
pub(crate) struct PhysBuffer {
    buf: KernelBuffer,
    first_pfn: usize,
    source: PhysSource,
}

impl PhysBuffer {
    /// The largest buffer [`PhysBuffer::alloc`] can give: one buddy allocation.
    pub(crate) const MAX_ALLOC: usize = PAGE_SIZE << bindings::MAX_PAGE_ORDER;

    /// Allocates `size` bytes of zeroed, physically contiguous memory.
    ///
    /// The pages stay ordinary pages of the allocator, with the reference the allocation holds:
    /// mapped by page frame number, the core never looks at them ([`PfnMemory`]). They are not
    /// marked `PG_reserved`, which `remap_pfn_range()` has not needed for years and which would
    /// let VFIO pin them into an IOMMU without a reference, beyond the buffer's life.
    ///
    /// `EINVAL` unless `size` is a non-zero multiple of the page size no larger than
    /// [`Self::MAX_ALLOC`]; `ENOMEM` if the allocator has no such contiguous run free.
    pub(crate) fn alloc(size: usize) -> Result<Self> {
        size_to_pages(size)?;
        if size > Self::MAX_ALLOC {
            return Err(EINVAL);
        }
        let gfp = bindings::GFP_KERNEL | bindings::__GFP_ZERO | bindings::__GFP_NOWARN;
        // SAFETY: `size` is non-zero and within one buddy allocation; the call may sleep, which
        // the caller (module init) allows.
        let addr = unsafe { bindings::alloc_pages_exact_noprof(size, gfp) };
        let ptr = NonNull::new(addr.cast::<u8>()).ok_or(ENOMEM)?;
        // SAFETY: `ptr` is a linear-map address returned by the page allocator.
        let first = unsafe { vmdev_helper_virt_to_page(addr) };
        // SAFETY: `first` is the `struct page` of an allocated page.
        let first_pfn = unsafe { vmdev_helper_page_to_pfn(first) } as usize;
        // INVARIANT: the memory is `size` bytes from `alloc_pages_exact()`.
        Ok(Self {
            buf: KernelBuffer { ptr, len: size },
            first_pfn,
            source: PhysSource::Allocated,
        })
    }

    /// Takes over the physical range `[phys, phys + size)` that was reserved at boot (for
    /// example with `memmap=SIZE$ADDR`): claims it in the resource tree under `name`, as
    /// `request_mem_region()` does, maps it for the kernel and zeroes it.
    ///
    /// `EINVAL` if the range is empty, unaligned, wraps, is not wholly reserved at boot, or
    /// overlaps System RAM that the kernel manages; `EBUSY` if some of it is busy (claimed by
    /// another driver, or marked busy by the kernel, as firmware areas are); `ENOMEM` if it
    /// cannot be mapped.
    pub(crate) fn reserved(phys: u64, size: u64, name: &CStr) -> Result<Self> {
        let len = usize::try_from(size).map_err(|_| EINVAL)?;
        size_to_pages(len)?;
        if phys.checked_add(size).is_none() || phys % PAGE_SIZE as u64 != 0 {
            return Err(EINVAL);
        }
        // The range must be wholly reserved at boot (firmware: an e820 "Reserved" range, e.g. from
        // `memmap=SIZE$ADDR`, or a device-tree `/reserved-memory` region with `no-map`) and share
        // no byte with System RAM: then no one else uses it as memory, and it is not MMIO.
        // SAFETY: Querying the resource tree and the device tree has no preconditions.
        if !unsafe { vmdev_helper_boot_reserved(phys, len) } {
            return Err(EINVAL);
        }
        // Being reserved says no one uses it as memory; the claim says no one else uses it at
        // all, now or while this buffer lives (a second driver, or this one loaded twice).
        let region = iomem()
            .request_region(phys, size, CString::try_from(name)?, Flags::IORESOURCE_MEM)
            .ok_or(EBUSY)?;
        // SAFETY: The range is page-aligned memory reserved at boot, not System RAM or MMIO, and
        // claimed by `region` for as long as the buffer holds it.
        unsafe { Self::take_over(phys, len, PhysSource::Reserved(region)) }
    }

    /// Takes over the RAM that `reserve_mem=SIZE:ALIGN:NAME` on the kernel command line
    /// reserved under `name` (7.3's named boot reservation, on every architecture: memblock
    /// keeps it from the page allocator, and `reserve_mem_find_by_name()` finds it), maps it for
    /// the kernel and zeroes it. No address to guess, and no range that firmware or a device
    /// might share: the name says the range was reserved for this buffer.
    ///
    /// `ENOENT` if the command line reserved nothing under `name`; `EINVAL` if the range is
    /// not page-aligned; `ENOMEM` if it cannot be mapped.
    pub(crate) fn reserve_mem(name: &CStr) -> Result<Self> {
        let (mut phys, mut size): (bindings::phys_addr_t, bindings::phys_addr_t) = (0, 0);
        // SAFETY: `name` is a NUL-terminated string, and `phys` and `size` are valid for
        // writes; the function takes its own lock.
        if unsafe { bindings::reserve_mem_find_by_name(name.as_char_ptr(), &mut phys, &mut size) }
            == 0
        {
            return Err(ENOENT);
        }
        let len = usize::try_from(size).map_err(|_| EINVAL)?;
        size_to_pages(len)?;
        if phys % PAGE_SIZE as u64 != 0 {
            return Err(EINVAL);
        }
        // SAFETY: The range is page-aligned RAM that memblock reserved for `name` at boot and
        // never gave to the page allocator (`memremap()` returns its linear-map address).
        unsafe { Self::take_over(phys, len, PhysSource::ReserveMem) }
    }

    /// Maps the `len` bytes of physical memory from `phys` for the kernel, write-back, zeroes
    /// them, and makes them a buffer whose memory came from `source`.
    ///
    /// # Safety
    ///
    /// `phys` and `len` are page-aligned, and the range is ordinary memory (a write-back
    /// mapping of it has no side effects) that nothing else in the kernel uses while `source`
    /// lives: a range reserved at boot and claimed by the `Region` of
    /// [`PhysSource::Reserved`], or the range `reserve_mem=` reserved for
    /// [`PhysSource::ReserveMem`].
    unsafe fn take_over(phys: u64, len: usize, source: PhysSource) -> Result<Self> {
        let first_pfn = usize::try_from(phys >> PAGE_SHIFT).map_err(|_| EINVAL)?;
        // SAFETY: The caller guarantees that the range is ordinary memory no one else uses.
        let addr = unsafe { bindings::memremap(phys, len, bindings::MEMREMAP_WB as c_ulong) };
        let ptr = NonNull::new(addr.cast::<u8>()).ok_or(ENOMEM)?;
        // SAFETY: `ptr` maps `len` bytes that no one else uses.
        unsafe { ptr.as_ptr().write_bytes(0, len) };
        // INVARIANT: `ptr` is the `memremap()` of the range that `source` stands for.
        Ok(Self {
            buf: KernelBuffer { ptr, len },
            first_pfn,
            source,
        })
    }

    /// Whether the memory is a range reserved at boot (rather than allocated at load).
    pub(crate) fn is_boot_reserved(&self) -> bool {
        !matches!(self.source, PhysSource::Allocated)
    }
}

/// The root of the physical memory map, `/proc/iomem`.
fn iomem() -> &'static Resource {
    // SAFETY: `iomem_resource` is a static that lives as long as the kernel. `Resource` is a
    // transparent wrapper of `struct resource` (its type invariants), and every access through it
    // (`request_region()` here) goes through the resource tree's own lock.
    unsafe { &*(&raw mut bindings::iomem_resource).cast::<Resource>() }
}

// SAFETY: The frames `first_pfn..first_pfn + len / PAGE_SIZE` belong to this object for its whole
// life (type invariants): the pages of an allocated buffer are held by its allocation until
// `drop`, a boot-reserved range is not System RAM and is claimed by this object, and a
// `reserve_mem=` range is RAM reserved under this object's name that the allocator never gets.
// All are ordinary memory, which the default cached protection fits.
unsafe impl PfnMemory for PhysBuffer {
    fn first_pfn(&self) -> usize {
        self.first_pfn
    }

    fn page_count(&self) -> usize {
        self.buf.len >> PAGE_SHIFT
    }

    fn read_into(&self, offset: usize, dst: &mut [u8]) -> usize {
        let (ptr, len) = self.buf.span(offset, dst.len());
        // SAFETY: `span` returned `len` bytes inside the buffer, valid for reads by the
        // `KernelBuffer` invariants, and `dst` holds at least `len`; a kernel buffer of the
        // caller's does not overlap the device's memory. User space may write the memory
        // meanwhile through a mapping, as during every copy of mapped memory: the bytes are
        // copied, never interpreted.
        unsafe { core::ptr::copy_nonoverlapping(ptr, dst.as_mut_ptr(), len) };
        len
    }

    fn write_from(&self, offset: usize, src: &[u8]) -> usize {
        let (ptr, len) = self.buf.span(offset, src.len());
        // SAFETY: `span` returned `len` bytes inside the buffer, valid for writes by the
        // `KernelBuffer` invariants, and `src` holds at least `len`, in a buffer of the
        // caller's that does not overlap the device's memory (see `read_into`).
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), ptr, len) };
        len
    }
}

impl AsRef<KernelBuffer> for PhysBuffer {
    fn as_ref(&self) -> &KernelBuffer {
        &self.buf
    }
}

impl Drop for PhysBuffer {
    fn drop(&mut self) {
        let addr = self.buf.ptr.as_ptr().cast();
        match self.source {
            // SAFETY: `addr` and `len` are what `alloc_pages_exact()` gave, by the invariants;
            // no mapping of the memory is left, since every VMA that mapped it held a reference
            // to the owner of this buffer (see `VmaSetup::remap_pfns`).
            PhysSource::Allocated => unsafe { bindings::free_pages_exact(addr, self.buf.len) },
            // SAFETY: `addr` came from `memremap()`, by the invariants; no mapping is left, as
            // above. The claim of a `Reserved` range goes after this, when the `Region` is
            // dropped; a `reserve_mem=` range stays reserved under its name for the next load.
            PhysSource::Reserved(_) | PhysSource::ReserveMem => unsafe { bindings::memunmap(addr) },
        }
    }
}

/// Zeroed, virtually contiguous memory from `vmalloc()`, mapped page by page on fault.
///
/// # Invariants
///
/// - `buf.ptr` is a [`Vmalloc`] allocation of `buf.len` bytes with the layout [`Self::layout`].
/// - `pages[i]`, where present, is the `struct page` of page `i` of that allocation (all pages
///   are present once [`Self::new`] returns).
pub(crate) struct VmallocBuffer {
    buf: KernelBuffer,
    /// Looked up once at allocation, as the kernel's own `vm_struct` and udmabuf keep theirs: a
    /// fault then indexes an array instead of walking the kernel page tables
    /// (`vmalloc_to_page()`) for every page it maps.
    pages: KVVec<NonNull<bindings::page>>,
}

// SAFETY: The page pointers are only read, and the pages they point to are plain memory owned by
// the allocation; the buffer itself is `Send` (`KernelBuffer`).
unsafe impl Send for VmallocBuffer {}
// SAFETY: `&VmallocBuffer` only reads the page pointers and copies in and out of the memory.
unsafe impl Sync for VmallocBuffer {}

impl VmallocBuffer {
    fn layout(size: usize) -> Result<core::alloc::Layout> {
        core::alloc::Layout::from_size_align(size, PAGE_SIZE).map_err(|_| EINVAL)
    }

    /// Allocates `size` zeroed bytes; `EINVAL` unless `size` is a non-zero multiple of the page
    /// size, `ENOMEM` if vmalloc cannot give it.
    pub(crate) fn new(size: usize) -> Result<Self> {
        let count = size_to_pages(size)?;
        let layout = Self::layout(size)?;
        let ptr = Vmalloc::alloc(
            layout,
            GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN,
            NumaNode::NO_NODE,
        )?;
        // From here on, dropping `this` frees the allocation.
        let mut this = Self {
            buf: KernelBuffer {
                ptr: ptr.cast(),
                len: size,
            },
            pages: KVVec::with_capacity(count, GFP_KERNEL)?,
        };
        for i in 0..count {
            // SAFETY: Page `i` is inside the allocation of `count` pages.
            let page_ptr = unsafe { this.buf.ptr.add(i * PAGE_SIZE) };
            // SAFETY: `page_ptr` points into the `Vmalloc` allocation, alive as long as `this`.
            let page = unsafe { Vmalloc::to_page(page_ptr) };
            let page = NonNull::new(page.as_ptr()).ok_or(ENOMEM)?;
            // The capacity was reserved above, so this cannot fail.
            this.pages.push_within_capacity(page).map_err(|_| ENOMEM)?;
        }
        // INVARIANT: A `Vmalloc` allocation of `size` bytes with `layout`, and all its pages.
        Ok(this)
    }

    /// Every page of the buffer, in order: the page at page index `i` is the `i`-th.
    #[inline]
    pub(crate) fn pages(&self) -> &[MappablePage<'_>] {
        // SAFETY: Each is a page of this allocation (invariants). `Vmalloc` allocates with
        // `vrealloc()`, that is plain `vmalloc()` without `VM_ALLOW_HUGE_VMAP`: every page of the
        // area is an order-0 page of the page allocator (higher orders are split), refcounted,
        // neither anonymous nor slab, and it stays allocated for the borrow of `self`.
        unsafe { MappablePage::from_pages(&self.pages) }
    }

    /// The page at page index `index`, or `None` past the end.
    #[inline]
    pub(crate) fn page(&self, index: usize) -> Option<MappablePage<'_>> {
        self.pages().get(index).copied()
    }
}

impl AsRef<KernelBuffer> for VmallocBuffer {
    fn as_ref(&self) -> &KernelBuffer {
        &self.buf
    }
}

impl Drop for VmallocBuffer {
    fn drop(&mut self) {
        // The page references user mappings took keep any still-mapped page alive; with this
        // driver none is left, since every VMA holds a reference to this buffer's owner.
        if let Ok(layout) = Self::layout(self.buf.len) {
            // SAFETY: `ptr` is a `Vmalloc` allocation with this layout, by the invariants.
            unsafe { Vmalloc::free(self.buf.ptr, layout) };
        }
    }
}

/// Zeroed memory in folios of as many pages as one PMD entry maps (2 MiB with 4 KiB pages),
/// allocated at load: the folio node's.
pub(crate) struct FolioBuffer {
    folios: Folios<PMD_ORDER>,
}

impl FolioBuffer {
    /// Allocates `size` zeroed bytes in folios of [`PmdFolio::SIZE`]; `EINVAL` unless `size` is a
    /// non-zero multiple of it, `ENOMEM` if the page allocator cannot give them all (none is
    /// kept then).
    pub(crate) fn new(size: usize) -> Result<Self> {
        if size == 0 || size % PmdFolio::SIZE != 0 {
            return Err(EINVAL);
        }
        Ok(Self {
            folios: Folios::alloc_zeroed(size / PmdFolio::SIZE)?,
        })
    }

    /// The folios, each mapped whole by a PMD entry or a page at a time.
    pub(crate) fn folios(&self) -> &Folios<PMD_ORDER> {
        &self.folios
    }
}

impl DeviceMemory for FolioBuffer {
    fn len(&self) -> usize {
        self.folios.size()
    }

    fn read_at(&self, offset: usize, dst: &mut IovIterDest<'_>) -> usize {
        self.folios.read_at(offset, dst)
    }

    fn write_at(&self, offset: usize, src: &mut IovIterSource<'_>) -> usize {
        self.folios.write_at(offset, src)
    }
}

impl Drop for FolioBuffer {
    /// Says whether anything outside the driver still holds a folio as the driver gives its own
    /// reference up. No mapping can (each VMA holds the buffer's owner), but a pipe that
    /// `vmsplice()` filled, or a pin of `get_user_pages()`, may outlive the module: such a folio
    /// is freed with the last of those references, not here.
    fn drop(&mut self) {
        let folios = self.folios.folios();
        let held = folios.iter().filter(|f| f.ref_count() > 1).count();
        pr_info!(
            "vmdev-folio: freeing {} folios, {held} still referenced elsewhere\n",
            folios.len()
        );
    }
}

// The debug view (`debug_view.rs`, `include/uapi/rust_vmdev.h`): how the kernel reaches each page
// of a buffer. Out-of-line versions of macros, from `helpers/vmdev.c`.
extern "C" {
    fn vmdev_helper_page_offset() -> c_ulong;
    fn vmdev_helper_page_offset_phys() -> bindings::phys_addr_t;
}

/// Where the kernel's own address of a buffer's memory comes from.
#[derive(Clone, Copy)]
pub(crate) enum KernelMapping {
    /// The linear map of all RAM: the address is the physical one plus a constant.
    Linear,
    /// `vmalloc()`: contiguous addresses over pages found one by one.
    Vmalloc,
    /// `memremap()` of a range outside System RAM: a mapping made for it alone.
    Memremap,
}

impl KernelMapping {
    /// The word the debug view prints for it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Vmalloc => "vmalloc",
            Self::Memremap => "memremap",
        }
    }
}

/// The kernel's linear map: `PAGE_OFFSET`, and the physical address it maps (0 on x86_64, the
/// start of RAM, `PHYS_OFFSET`, on arm64). A linear-map address `a` maps `a - PAGE_OFFSET + that`.
pub(crate) fn linear_map() -> (usize, u64) {
    // SAFETY: Both read constants of the running kernel; they have no preconditions.
    let (virt, phys) = unsafe { (vmdev_helper_page_offset(), vmdev_helper_page_offset_phys()) };
    (virt, phys)
}

/// A buffer's pages as the kernel sees them, for the debug view.
pub(crate) trait PageFrames {
    /// How the kernel maps the buffer.
    fn kernel_mapping(&self) -> KernelMapping;

    /// The kernel address and the page frame number of page `index`; `None` past the end.
    fn frame(&self, index: usize) -> Option<(usize, usize)>;
}

impl PageFrames for PhysBuffer {
    fn kernel_mapping(&self) -> KernelMapping {
        if self.is_boot_reserved() {
            KernelMapping::Memremap
        } else {
            KernelMapping::Linear
        }
    }

    fn frame(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.page_count() {
            return None;
        }
        // The frames are contiguous by construction: no lookup, arithmetic on the first one.
        let addr = self.buf.ptr.as_ptr().addr() + index * PAGE_SIZE;
        Some((addr, self.first_pfn + index))
    }
}

impl PageFrames for FolioBuffer {
    fn kernel_mapping(&self) -> KernelMapping {
        KernelMapping::Linear
    }

    fn frame(&self, index: usize) -> Option<(usize, usize)> {
        self.folios.frame(index)
    }
}

impl PageFrames for VmallocBuffer {
    fn kernel_mapping(&self) -> KernelMapping {
        KernelMapping::Vmalloc
    }

    fn frame(&self, index: usize) -> Option<(usize, usize)> {
        let page = *self.pages.get(index)?;
        // SAFETY: `page` is the `struct page` of page `index` of this allocation (invariants),
        // allocated for the borrow of `self`.
        let pfn = unsafe { vmdev_helper_page_to_pfn(page.as_ptr()) } as usize;
        Some((self.buf.ptr.as_ptr().addr() + index * PAGE_SIZE, pfn))
    }
}
