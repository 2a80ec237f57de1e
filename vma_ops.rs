// SPDX-License-Identifier: GPL-2.0

//! Safe mapping of driver memory into user space.
//!
//! Linux 7.3's `kernel` crate can configure a VMA at `mmap()` time ([`VmaNew`]) and insert single
//! pages into a `VM_MIXEDMAP` VMA, but it has no abstraction for `struct vm_operations_struct` or
//! for `remap_pfn_range()`. This module adds both, plus the two kinds of memory a driver maps:
//!
//! - [`PhysBuffer`]: physically contiguous memory, either from the page allocator or a range
//!   reserved at boot, mapped whole at `mmap()` time by [`VmaNewExt::remap_pfns`];
//! - [`VmallocBuffer`]: virtually contiguous memory mapped page by page from a fault handler,
//!   through [`VmOperations`] and [`VmaNewExt::set_vm_ops`].
//!
//! Every raw pointer and every call into C stays in this file; the driver is safe code.
//!
//! Memory that is mapped into a process can change under the kernel's feet at any time, so no
//! Rust reference to its contents ever exists: the kernel reads and writes it only through
//! `copy_{to,from}_iter()` on raw pointers ([`DeviceMemory`]).

use core::{cell::Cell, marker::PhantomData, ops::Range, ptr::NonNull};
use kernel::{
    alloc::{allocator::Vmalloc, Allocator, NumaNode},
    bindings,
    error::to_result,
    iov::{IovIterDest, IovIterSource},
    mm::virt::{flags, VmaNew, VmaRef},
    page::{BorrowedPage, PAGE_SHIFT, PAGE_SIZE},
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
    fn vmdev_helper_virt_to_page(addr: *const c_void) -> *mut bindings::page;
    fn vmdev_helper_page_to_pfn(page: *const bindings::page) -> c_ulong;
    fn vmdev_helper_get_page(page: *mut bindings::page);
    fn vmdev_helper_set_page_reserved(page: *mut bindings::page);
    fn vmdev_helper_clear_page_reserved(page: *mut bindings::page);
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
    /// `alloc_pages_exact()`; its pages are marked reserved while the buffer owns them.
    Allocated,
    /// A range reserved at boot, mapped with `memremap()`.
    Reserved,
}

/// Physically contiguous memory, mapped into user space with `remap_pfn_range()`.
///
/// # Invariants
///
/// - `buf` covers physical pages `first_pfn..first_pfn + buf.len / PAGE_SIZE`, which belong to
///   this object for its whole life.
/// - With [`PhysSource::Allocated`], `buf.ptr` is the address `alloc_pages_exact()` returned for
///   `buf.len` bytes and each of its pages has `PG_reserved` set.
/// - With [`PhysSource::Reserved`], `buf.ptr` is what `memremap()` returned for the range, which
///   was reserved at boot and is disjoint from the System RAM the kernel manages.
pub(crate) struct PhysBuffer {
    buf: KernelBuffer,
    first_pfn: usize,
    source: PhysSource,
}

impl PhysBuffer {
    /// The largest buffer [`PhysBuffer::alloc`] can give: one buddy allocation.
    pub(crate) const MAX_ALLOC: usize = PAGE_SIZE << bindings::MAX_PAGE_ORDER;

    /// Allocates `size` bytes of zeroed, physically contiguous memory and marks its pages
    /// reserved (`PG_reserved`) while it is owned.
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
        let this = Self {
            buf: KernelBuffer { ptr, len: size },
            first_pfn,
            source: PhysSource::Allocated,
        };
        for page in this.pages() {
            // SAFETY: `page` is one of the pages this object just allocated and owns.
            unsafe { vmdev_helper_set_page_reserved(page) };
        }
        // INVARIANT: the memory is `size` bytes from `alloc_pages_exact()`, all pages reserved.
        Ok(this)
    }

    /// Takes over the physical range `[phys, phys + size)` that was reserved at boot (for
    /// example with `memmap=SIZE$ADDR`), maps it for the kernel and zeroes it.
    ///
    /// `EINVAL` if the range is empty, unaligned, wraps, is not wholly reserved at boot, or
    /// overlaps System RAM that the kernel manages; `ENOMEM` if it cannot be mapped.
    pub(crate) fn reserved(phys: u64, size: u64) -> Result<Self> {
        let len = usize::try_from(size).map_err(|_| EINVAL)?;
        size_to_pages(len)?;
        if phys.checked_add(size).is_none() || phys % PAGE_SIZE as u64 != 0 {
            return Err(EINVAL);
        }
        // The range must be wholly reserved at boot (firmware, or `memmap=SIZE$ADDR`) and share
        // no byte with System RAM: then no one else uses it as memory, and it is not MMIO.
        // SAFETY: Querying the resource tree has no preconditions.
        let (reserved, ram) = unsafe {
            (
                bindings::region_intersects(
                    phys,
                    len,
                    bindings::IORESOURCE_MEM as c_ulong,
                    bindings::IORES_DESC_RESERVED as c_ulong,
                ),
                bindings::region_intersects(
                    phys,
                    len,
                    bindings::IORESOURCE_SYSTEM_RAM as c_ulong,
                    bindings::IORES_DESC_NONE as c_ulong,
                ),
            )
        };
        if reserved != bindings::REGION_INTERSECTS as c_int
            || ram != bindings::REGION_DISJOINT as c_int
        {
            return Err(EINVAL);
        }
        // SAFETY: The range is reserved memory, not System RAM or MMIO: nothing else in the
        // kernel uses it, and a write-back mapping of it has no side effects.
        let addr = unsafe { bindings::memremap(phys, len, bindings::MEMREMAP_WB as c_ulong) };
        let ptr = NonNull::new(addr.cast::<u8>()).ok_or(ENOMEM)?;
        // SAFETY: `ptr` maps `len` bytes that no one else uses.
        unsafe { ptr.as_ptr().write_bytes(0, len) };
        let first_pfn = usize::try_from(phys >> PAGE_SHIFT).map_err(|_| EINVAL)?;
        // INVARIANT: `ptr` is the `memremap()` of a range disjoint from System RAM.
        Ok(Self {
            buf: KernelBuffer { ptr, len },
            first_pfn,
            source: PhysSource::Reserved,
        })
    }

    /// The `struct page` of each page of an allocated buffer (none for a reserved range, whose
    /// pages the kernel does not manage).
    fn pages(&self) -> impl Iterator<Item = *mut bindings::page> + '_ {
        let count = match self.source {
            PhysSource::Allocated => self.buf.len >> PAGE_SHIFT,
            PhysSource::Reserved => 0,
        };
        (0..count).map(move |i| {
            // SAFETY: Page `i` is inside the linear-map allocation, by the type invariants.
            unsafe { vmdev_helper_virt_to_page(self.buf.ptr.as_ptr().add(i * PAGE_SIZE).cast()) }
        })
    }
}

impl AsRef<KernelBuffer> for PhysBuffer {
    fn as_ref(&self) -> &KernelBuffer {
        &self.buf
    }
}

impl Drop for PhysBuffer {
    fn drop(&mut self) {
        for page in self.pages() {
            // SAFETY: The page belongs to this buffer and was marked reserved in `alloc`.
            unsafe { vmdev_helper_clear_page_reserved(page) };
        }
        let addr = self.buf.ptr.as_ptr().cast();
        match self.source {
            // SAFETY: `addr` and `len` are what `alloc_pages_exact()` gave, by the invariants;
            // no mapping of the memory is left, since every VMA that mapped it held a reference
            // to the owner of this buffer (see `VmaNewExt::remap_pfns`).
            PhysSource::Allocated => unsafe { bindings::free_pages_exact(addr, self.buf.len) },
            // SAFETY: `addr` came from `memremap()`, by the invariants; no mapping is left, as
            // above.
            PhysSource::Reserved => unsafe { bindings::memunmap(addr) },
        }
    }
}

/// Zeroed, virtually contiguous memory from `vmalloc()`, mapped page by page on fault.
///
/// # Invariants
///
/// `buf.ptr` is a [`Vmalloc`] allocation of `buf.len` bytes with the layout [`Self::layout`].
pub(crate) struct VmallocBuffer {
    buf: KernelBuffer,
}

impl VmallocBuffer {
    fn layout(size: usize) -> Result<core::alloc::Layout> {
        core::alloc::Layout::from_size_align(size, PAGE_SIZE).map_err(|_| EINVAL)
    }

    /// Allocates `size` zeroed bytes; `EINVAL` unless `size` is a non-zero multiple of the page
    /// size, `ENOMEM` if vmalloc cannot give it.
    pub(crate) fn new(size: usize) -> Result<Self> {
        size_to_pages(size)?;
        let layout = Self::layout(size)?;
        let ptr = Vmalloc::alloc(
            layout,
            GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN,
            NumaNode::NO_NODE,
        )?;
        // INVARIANT: A `Vmalloc` allocation of `size` bytes with `layout`.
        Ok(Self {
            buf: KernelBuffer {
                ptr: ptr.cast(),
                len: size,
            },
        })
    }

    /// The page at page index `index`, or `None` past the end.
    pub(crate) fn page(&self, index: usize) -> Option<BorrowedPage<'_>> {
        if index >= self.buf.len >> PAGE_SHIFT {
            return None;
        }
        // SAFETY: `index` is in bounds, so the address is inside the allocation.
        let ptr = unsafe { self.buf.ptr.add(index * PAGE_SIZE) };
        // SAFETY: `ptr` points into this `Vmalloc` allocation, which outlives the borrow of
        // `self` that the returned page is tied to.
        Some(unsafe { Vmalloc::to_page(ptr) })
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

/// What a [`VmOperations::fault`] handler tells the core.
pub(crate) enum Fault<'a> {
    /// Map this page at the faulting address. The core holds its own reference on the page for
    /// as long as it is mapped.
    Page(BorrowedPage<'a>),
    /// The handler mapped the faulting page itself (with [`VmFault::map_window`]).
    Mapped,
    /// The address has no backing: the access gets `SIGBUS`.
    SigBus,
}

/// A page fault being handled: the kernel's `struct vm_fault`.
///
/// # Invariants
///
/// `inner` is the `struct vm_fault` of a fault in progress, whose VMA is read-locked (by the mmap
/// lock or its own lock) for the life of this object.
#[repr(transparent)]
pub(crate) struct VmFault {
    inner: Opaque<bindings::vm_fault>,
}

impl VmFault {
    /// # Safety
    ///
    /// `ptr` must be the `struct vm_fault` passed to a `vm_operations_struct` callback, valid for
    /// `'a`.
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

    /// Whether the core had to allocate a page table for this fault: then the PMD has none yet
    /// and fault-around must map nothing (it runs in a context that cannot allocate one).
    fn needs_page_table(&self) -> bool {
        !self.raw().prealloc_pte.is_null()
    }

    /// Whether this is a write to a shared mapping: the core never faults those around, and a
    /// page mapped for it needs no copy.
    pub(crate) fn is_shared_write(&self) -> bool {
        self.raw().flags & bindings::fault_flag_FAULT_FLAG_WRITE != 0
            && self.vma().flags() & flags::SHARED != 0
    }

    /// From [`VmOperations::fault`] (which may sleep, so page tables may be allocated): maps the
    /// `window`-page aligned block of file offsets around the faulting one, clamped to the VMA,
    /// with the pages `page_at` gives. Returns how many pages it mapped if the faulting page is
    /// mapped now (return [`Fault::Mapped`] then), `None` if the VMA is not `VM_MIXEDMAP` or the
    /// faulting page could not be mapped (hand it to the core instead).
    pub(crate) fn map_window<'p>(
        &self,
        window: usize,
        page_at: impl Fn(usize) -> Option<BorrowedPage<'p>>,
    ) -> Option<usize> {
        let vma = self.vma();
        vma.as_mixedmap_vma()?;
        let first = vma.pgoff();
        let end = first.checked_add((vma.end() - vma.start()) >> PAGE_SHIFT)?;
        let start = (self.pgoff() - self.pgoff() % window.max(1)).max(first);
        let stop = start.saturating_add(window).min(end);
        let fault_mapped = Cell::new(false);
        let mapped = map_range(self, vma, start..stop, page_at, &fault_mapped);
        fault_mapped.get().then_some(mapped)
    }
}

/// The callbacks of a VMA, turned into a `struct vm_operations_struct` by [`VmOpsTable`].
///
/// Each VMA that has these operations owns one reference to an `Arc<Self::Data>`, kept in its
/// `vm_private_data`, from [`VmaNewExt::set_vm_ops`] (or a copy or split of the VMA) to its
/// [`VmOperations::close`]. So the data outlives every mapping that uses it.
#[vtable]
pub(crate) trait VmOperations: Sized {
    /// What every VMA of this kind refers to, e.g. the device and its memory.
    type Data: Send + Sync;

    /// A VMA got these operations: at `mmap()` time, or as a copy of another (`fork()`, a split
    /// by partial `munmap()` or `mprotect()`, `mremap()` moving it). Called exactly once for
    /// every VMA that [`VmOperations::close`] will later be called for.
    fn open(_data: &Self::Data, _vma: &VmaRef) {}

    /// A VMA is going away (`munmap()`, process exit, or the old half of a move).
    fn close(_data: &Self::Data, _vma: &VmaRef) {}

    /// A page of the VMA that has no page table entry was touched. Runs in process context and
    /// may sleep. Without it, such a touch gets `SIGBUS` (right for VMAs mapped whole at `mmap()`
    /// time).
    fn fault<'a>(_data: &'a Self::Data, _vmf: &VmFault) -> Fault<'a> {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// Fault-around: before a read fault is handled, map the neighbouring pages that are ready,
    /// through [`FaultAround::map`]. Runs under `rcu_read_lock()`: must not sleep.
    fn map_pages(_data: &Self::Data, _around: &FaultAround<'_>) {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// The fault-around window of one read fault, see [`VmOperations::map_pages`].
pub(crate) struct FaultAround<'a> {
    vmf: &'a VmFault,
    pgoffs: Range<usize>,
    /// Whether the faulting page has a page table entry now.
    fault_mapped: Cell<bool>,
}

impl FaultAround<'_> {
    /// The file offsets, in pages, that the core asks to map (the faulting one included).
    pub(crate) fn pgoffs(&self) -> Range<usize> {
        self.pgoffs.clone()
    }

    /// For each offset of the window, maps the page `page_at` gives unless the offset is mapped
    /// already; an offset without a page is left alone. Returns how many pages it mapped.
    ///
    /// Maps nothing when the VMA is not `VM_MIXEDMAP` (the insertion helpers need it) or when
    /// the PMD has no page table yet: creating one may sleep, which is not allowed here, so the
    /// first fault in each page-table range is left to [`VmOperations::fault`].
    pub(crate) fn map<'p>(&self, page_at: impl Fn(usize) -> Option<BorrowedPage<'p>>) -> usize {
        let vma = self.vmf.vma();
        if vma.as_mixedmap_vma().is_none() || self.vmf.needs_page_table() {
            return 0;
        }
        map_range(self.vmf, vma, self.pgoffs(), page_at, &self.fault_mapped)
    }
}

/// Maps, in batches of [`INSERT_BATCH`], the page `page_at` gives for each file offset in
/// `pgoffs` that has one and is not mapped yet; sets `fault_mapped` if the faulting page of
/// `vmf` is mapped afterwards. Returns how many pages it mapped. The VMA must be `VM_MIXEDMAP`.
fn map_range<'p>(
    vmf: &VmFault,
    vma: &VmaRef,
    pgoffs: Range<usize>,
    page_at: impl Fn(usize) -> Option<BorrowedPage<'p>>,
    fault_mapped: &Cell<bool>,
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
        mapped += insert_pages(vmf, vma, first, &batch[..len], fault_mapped);
        len = 0;
    }
    if len > 0 {
        mapped += insert_pages(vmf, vma, first, &batch[..len], fault_mapped);
    }
    mapped
}

/// At most this many pages go to one `vm_insert_pages()` call (one page-table lock round).
const INSERT_BATCH: usize = 16;

/// Inserts `pages` at the consecutive file offsets from `first` on, skipping offsets that are
/// mapped already. Returns how many it inserted.
fn insert_pages(
    vmf: &VmFault,
    vma: &VmaRef,
    first: usize,
    pages: &[*mut bindings::page],
    fault_mapped: &Cell<bool>,
) -> usize {
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
        // SAFETY: The VMA is read-locked and `VM_MIXEDMAP` (checked by the callers), and the
        // addresses are inside it (checked above). From fault-around the PMD has a page table
        // (checked by `FaultAround::map`), so nothing is allocated; from `fault`, allocating is
        // allowed. The pages are valid order-0 pages that outlive this call; each insertion
        // takes a reference of its own.
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
            fault_mapped.set(true);
        }
        inserted += done;
        next += done;
        // `-EBUSY` means the entry at `next` exists already: skip that page. Any other error
        // leaves the rest to `fault`.
        if ret != -(bindings::EBUSY as c_int) {
            break;
        }
        if fault_index == Some(next) {
            fault_mapped.set(true);
        }
        next += 1;
    }
    inserted
}

/// Builds the `struct vm_operations_struct` for a [`VmOperations`] implementation.
pub(crate) struct VmOpsTable<T>(PhantomData<T>);

impl<T: VmOperations> VmOpsTable<T> {
    /// Operations with fault-around (`map_pages`) when `T` implements it.
    const WITH_AROUND: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(Self::open),
        close: Some(Self::close),
        fault: if T::HAS_FAULT {
            Some(Self::fault)
        } else {
            None
        },
        map_pages: if T::HAS_MAP_PAGES {
            Some(Self::map_pages)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// The same operations without fault-around: every first touch is a call to `fault`.
    const WITHOUT_AROUND: bindings::vm_operations_struct = bindings::vm_operations_struct {
        map_pages: None,
        ..Self::WITH_AROUND
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

    /// # Safety
    ///
    /// Called by the core for a new VMA copied from one with these operations.
    unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
        // SAFETY: The new VMA was copied from a live one, so `vm_private_data` is that VMA's
        // `Arc` pointer, still referenced by it; the mmap lock is held for writing.
        let data = unsafe { Self::data(vma) };
        // SAFETY: As above, the VMA is valid and locked for the duration of this call.
        let vma_ref = unsafe { VmaRef::from_raw(vma) };
        T::open(&data, vma_ref);
        // The copy owns a reference of its own, released in `close`.
        let _ = Arc::into_raw(Arc::from(data));
    }

    /// # Safety
    ///
    /// Called by the core, once, for a VMA with these operations that is being removed.
    unsafe extern "C" fn close(vma: *mut bindings::vm_area_struct) {
        // SAFETY: The VMA owns one reference to the `Arc` in `vm_private_data` (taken in
        // `set_vm_ops` or `open`), which it gives up here, exactly once.
        let data = unsafe { Arc::<T::Data>::from_raw((*vma).vm_private_data.cast()) };
        // SAFETY: The VMA is valid for the duration of this call, and the mmap lock is held.
        let vma_ref = unsafe { VmaRef::from_raw(vma) };
        T::close(&data, vma_ref);
    }

    /// # Safety
    ///
    /// Called by the core for a fault in a VMA with these operations.
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The core passes a valid `vm_fault` whose VMA is read-locked during the call.
        let fault = unsafe { VmFault::from_raw(vmf) };
        // SAFETY: The VMA has these operations and holds a reference to its data.
        let data = unsafe { Self::data(fault.vma().as_ptr()) };
        match T::fault(&data, fault) {
            Fault::Page(page) => {
                // SAFETY: `page` is a valid page that outlives this call. The core maps
                // `vmf->page` and keeps the reference taken here until it unmaps it.
                unsafe {
                    vmdev_helper_get_page(page.as_ptr());
                    (*vmf).page = page.as_ptr();
                }
                0
            }
            Fault::Mapped => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            Fault::SigBus => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
        }
    }

    /// # Safety
    ///
    /// Called by the core, under `rcu_read_lock()`, before a read fault in a VMA with these
    /// operations.
    unsafe extern "C" fn map_pages(
        vmf: *mut bindings::vm_fault,
        start_pgoff: c_ulong,
        end_pgoff: c_ulong,
    ) -> bindings::vm_fault_t {
        // SAFETY: The core passes a valid `vm_fault` whose VMA is read-locked during the call.
        let fault = unsafe { VmFault::from_raw(vmf) };
        // SAFETY: The VMA has these operations and holds a reference to its data.
        let data = unsafe { Self::data(fault.vma().as_ptr()) };
        let around = FaultAround {
            vmf: fault,
            // The core passes an inclusive range.
            pgoffs: start_pgoff..end_pgoff.saturating_add(1),
            fault_mapped: Cell::new(false),
        };
        T::map_pages(&data, &around);
        // Tell the core the faulting page is mapped, or let it call `fault`.
        if around.fault_mapped.get() {
            bindings::vm_fault_reason_VM_FAULT_NOPAGE
        } else {
            0
        }
    }
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

/// What this module adds to [`VmaNew`], the VMA being set up in `f_ops->mmap()`.
pub(crate) trait VmaNewExt {
    /// Installs `T`'s operations; the VMA keeps a reference to `data` until it is closed, and
    /// [`VmOperations::open`] is called for it now. `fault_around` chooses whether the VMA gets
    /// `map_pages` too.
    ///
    /// Infallible, so that nothing can fail after it: call it last in `mmap()`, once every check
    /// has passed (an `mmap()` that fails afterwards would never see `close`).
    fn set_vm_ops<T: VmOperations>(&self, data: Arc<T::Data>, fault_around: bool);

    /// Maps the whole VMA onto `data`'s physically contiguous memory from page `first_page` on,
    /// with `remap_pfn_range()`, then installs `T`'s operations as [`Self::set_vm_ops`] does
    /// (without fault-around: every page is mapped already).
    ///
    /// `EINVAL` if the VMA would reach past the end of the memory, or if it is a copy-on-write
    /// mapping (private and possibly writable): `remap_pfn_range()` would then store the
    /// physical page number in `vm_pgoff`, which `/proc/<pid>/maps` shows to user space.
    fn remap_pfns<T: VmOperations>(&self, data: Arc<T::Data>, first_page: usize) -> Result
    where
        T::Data: AsRef<PhysBuffer>;
}

impl VmaNewExt for VmaNew {
    fn set_vm_ops<T: VmOperations>(&self, data: Arc<T::Data>, fault_around: bool) {
        let ops: &'static bindings::vm_operations_struct = if fault_around {
            &VmOpsTable::<T>::WITH_AROUND
        } else {
            &VmOpsTable::<T>::WITHOUT_AROUND
        };
        T::open(&data, self);
        // SAFETY: The VMA is being set up in `mmap()` (type invariants of `VmaNew`), so it is not
        // yet visible to anyone else. `ops` is static; the private data carries the reference
        // that `close` gives back, as `VmOpsTable` expects.
        unsafe {
            let vma = self.as_ptr();
            (*vma).vm_private_data = Arc::into_raw(data).cast_mut().cast();
            (*vma).vm_ops = ops;
        }
    }

    fn remap_pfns<T: VmOperations>(&self, data: Arc<T::Data>, first_page: usize) -> Result
    where
        T::Data: AsRef<PhysBuffer>,
    {
        let flags = self.flags();
        if flags & (flags::SHARED | flags::MAYWRITE) == flags::MAYWRITE {
            return Err(EINVAL);
        }
        let mem: &PhysBuffer = (*data).as_ref();
        let size = self.end() - self.start();
        let end_page = first_page.checked_add(size >> PAGE_SHIFT).ok_or(EINVAL)?;
        if end_page > mem.buf.len >> PAGE_SHIFT {
            return Err(EINVAL);
        }
        let pfn = mem.first_pfn + first_page;
        // SAFETY: The VMA is being set up in `mmap()` with the mmap lock held for writing, the
        // range is exactly the VMA, and the page frames `pfn..pfn + size / PAGE_SIZE` belong to
        // `mem`. `mem` outlives the mapping: `data` owns it, and the VMA keeps a reference to
        // `data` (installed below) until it is closed.
        to_result(unsafe {
            bindings::remap_pfn_range(
                self.as_ptr(),
                self.start() as c_ulong,
                pfn as c_ulong,
                size,
                (*self.as_ptr()).vm_page_prot,
            )
        })?;
        self.set_vm_ops::<T>(data, false);
        Ok(())
    }
}
