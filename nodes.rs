// SPDX-License-Identifier: GPL-2.0

//! The four device nodes: one [`Device`] each, with what differs between them ([`Node`]): the
//! memory, how a mapping of it is backed, and the operations of its VMAs.

use crate::chardev::{
    fixed_size_llseek, MiscDevice, MiscDeviceRegistration, Placement, SeekingFile,
};
use crate::memory::{DeviceMemory, FolioBuffer, PhysBuffer, VmallocBuffer};
use crate::uapi::{
    VmdevInfo, BACKING_FAULT, BACKING_FOLIO, BACKING_HUGE, BACKING_REMAP, VMDEV_IOC_INFO,
};
use crate::vma_ops::{
    Backed, EntrySize, FaultResult, MmapVma, PmdFault, PmdFolio, PmdMapped, Prepared, VmFault,
    VmOperations, VmaDesc, VmaSetup,
};
use kernel::{
    fs::{File, Kiocb},
    iov::{IovIterDest, IovIterSource},
    mm::virt::flags,
    page::PAGE_SHIFT,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, ArcBorrow,
    },
    types::ForeignOwnable,
    uaccess::{UserPtr, UserSlice},
};

/// One device node: its memory and what it counts. The registration, every open file and
/// every VMA that maps it hold an `Arc` to it.
pub(crate) struct Device<N: Node> {
    /// The memory, which the remap and huge nodes share.
    pub(crate) mem: Arc<N::Mem>,
    /// `vmdev_info.flags`.
    flags: u32,
    /// log2 of the pages one fault on the fault node maps at most (its window), 0 on the other
    /// nodes: an order, so that the window is a power of two by construction and aligns with a
    /// mask, not a division.
    pub(crate) window_order: u32,
    /// VMAs that map this device now, in every process: each counted from its
    /// `VmOperations::open` to its `close`.
    live_vmas: Atomic<u64>,
    /// Faulting pages the fault handlers mapped.
    faults: Atomic<u64>,
    /// Pages mapped together with a faulting one.
    around_pages: Atomic<u64>,
}

/// What differs between the kinds of node. Each kind is also the `VmOperations` of its VMAs.
pub(crate) trait Node: VmOperations<Data = Device<Self>> + Send + Sync + 'static {
    /// The memory behind the node.
    type Mem: DeviceMemory + Send + Sync;

    /// `vmdev_info.backing`.
    const BACKING: u32;

    /// Backs `vma`, a mapping of a file of the node being set up in either hook; it maps pages
    /// of the memory from `vm_pgoff` on, a range already checked to be inside it.
    fn back<V: VmaSetup<Arc<Device<Self>>>>(vma: V) -> Result<V::Backed>;
}

impl<N: Node> Device<N> {
    pub(crate) fn new(mem: Arc<N::Mem>, flags: u32, window_order: u32) -> Result<Arc<Self>> {
        Ok(Arc::new(
            Self {
                mem,
                flags,
                window_order,
                live_vmas: Atomic::new(0),
                faults: Atomic::new(0),
                around_pages: Atomic::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    /// `EINVAL` unless `vma` maps pages inside the memory. Its offset and length come from user
    /// space (`mmap()`'s): the sum is checked without overflowing.
    fn check_range<P: ForeignOwnable>(&self, vma: &impl VmaSetup<P>) -> Result {
        let pages = (vma.end() - vma.start()) >> PAGE_SHIFT;
        match vma.pgoff().checked_add(pages) {
            Some(end) if end <= self.mem.len() >> PAGE_SHIFT => Ok(()),
            _ => Err(EINVAL),
        }
    }

    fn info(&self) -> VmdevInfo {
        VmdevInfo {
            size: self.mem.len() as u64,
            backing: N::BACKING,
            flags: self.flags,
            live_vmas: self.live_vmas.load(Relaxed),
            faults: self.faults.load(Relaxed),
            around_pages: self.around_pages.load(Relaxed),
        }
    }

    fn vma_opened(&self) {
        self.live_vmas.add(1, Relaxed);
    }

    fn vma_closed(&self) {
        self.live_vmas.fetch_sub(1, Relaxed);
    }

    /// A fault mapped `pages` pages, the faulting one among them if `fault_page`.
    fn count_fault(&self, pages: usize, fault_page: bool) {
        let fault = u64::from(fault_page);
        self.faults.add(fault, Relaxed);
        self.around_pages.add(pages as u64 - fault, Relaxed);
    }
}

impl<N: Node> AsRef<N::Mem> for Device<N> {
    fn as_ref(&self) -> &N::Mem {
        &self.mem
    }
}

/// The file position of `kiocb` as an offset into the buffer.
fn position<T: ForeignOwnable>(kiocb: &Kiocb<'_, T>) -> Result<usize> {
    usize::try_from(kiocb.ki_pos()).map_err(|_| EINVAL)
}

#[vtable]
impl<N: Node> MiscDevice for Device<N> {
    type Ptr = Arc<Self>;
    type RegistrationData = Arc<Self>;

    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Arc<Self>> {
        Ok(misc.data().clone())
    }

    fn mmap_prepare<'a>(
        dev: ArcBorrow<'_, Self>,
        desc: VmaDesc<'a, Arc<Self>>,
    ) -> Result<Prepared<'a>> {
        dev.check_range(&desc)?;
        N::back(desc)
    }

    fn mmap<'a>(
        dev: ArcBorrow<'_, Self>,
        _file: &File,
        vma: MmapVma<'a, Arc<Self>>,
    ) -> Result<Backed<'a>> {
        dev.check_range(&vma)?;
        N::back(vma)
    }

    /// Every node places its mappings where huge entries can map them: only the huge node's
    /// faults use them, but a remap or fault mapping placed so costs nothing.
    fn get_unmapped_area(
        _dev: ArcBorrow<'_, Self>,
        _file: &File,
        _len: usize,
        _pgoff: usize,
    ) -> Placement {
        Placement::CongruentToOffset
    }

    fn llseek(
        dev: ArcBorrow<'_, Self>,
        file: SeekingFile<'_>,
        offset: i64,
        whence: c_int,
    ) -> Result<i64> {
        let size = i64::try_from(dev.mem.len()).map_err(|_| EINVAL)?;
        fixed_size_llseek(file, offset, whence, size)
    }

    fn read_iter(mut kiocb: Kiocb<'_, Arc<Self>>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        let dev = kiocb.file();
        let pos = position(&kiocb)?;
        let want = iov.len();
        let done = dev.mem.read_at(pos, iov);
        if done == 0 && want > 0 && pos < dev.mem.len() {
            return Err(EFAULT);
        }
        // `pos + done` is at most the buffer size, far below `i64::MAX`.
        *kiocb.ki_pos_mut() += done as i64;
        Ok(done)
    }

    fn write_iter(mut kiocb: Kiocb<'_, Arc<Self>>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        let dev = kiocb.file();
        let pos = position(&kiocb)?;
        let want = iov.len();
        if want > 0 && pos >= dev.mem.len() {
            return Err(ENOSPC);
        }
        let done = dev.mem.write_at(pos, iov);
        if done == 0 && want > 0 {
            return Err(EFAULT);
        }
        *kiocb.ki_pos_mut() += done as i64;
        Ok(done)
    }

    fn ioctl(dev: ArcBorrow<'_, Self>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            VMDEV_IOC_INFO => {
                let user = UserSlice::new(UserPtr::from_addr(arg), size_of::<VmdevInfo>());
                user.writer().write_slice(dev.info().as_bytes())?;
                Ok(0)
            }
            _ if crate::mm_ioctl::is_mm_request(cmd) => crate::mm_ioctl::answer(cmd, arg),
            _ => Err(ENOTTY),
        }
    }
}

/// A private mapping that may become writable would be copy-on-write, which a PFN mapping
/// cannot be (`remap_pfn_range()` would put the physical address in `vm_pgoff`). Refuse a
/// writable one; a read-only private mapping stays read-only for good (`VM_MAYWRITE` cleared),
/// which the abstraction then accepts.
fn keep_private_read_only<P: ForeignOwnable>(vma: &mut impl VmaSetup<P>) -> Result {
    if vma.flags() & flags::SHARED == 0 {
        vma.try_clear_maywrite()?;
    }
    Ok(())
}

/// `/dev/vmdev-remap`, and the operations of its VMAs: every page is mapped at `mmap()` time,
/// so there is no fault handler (a fault would be a `SIGBUS`); only the mapping count.
pub(crate) struct RemapNode;

impl Node for RemapNode {
    type Mem = PhysBuffer;
    const BACKING: u32 = BACKING_REMAP;

    fn back<V: VmaSetup<Arc<Device<Self>>>>(mut vma: V) -> Result<V::Backed> {
        keep_private_read_only(&mut vma)?;
        vma.remap_pfns::<Self, _>()
    }
}

#[vtable]
impl VmOperations for RemapNode {
    type Data = Device<Self>;

    fn open(dev: &Self::Data) {
        dev.vma_opened();
    }

    fn close(dev: &Self::Data) {
        dev.vma_closed();
    }
}

/// `/dev/vmdev-huge`, and the operations of its VMAs: the remap node's memory, mapped on first
/// touch with the largest page-table entries that fit (`VM_PFNMAP` throughout).
pub(crate) struct HugeNode;

impl Node for HugeNode {
    type Mem = PhysBuffer;
    const BACKING: u32 = BACKING_HUGE;

    fn back<V: VmaSetup<Arc<Device<Self>>>>(mut vma: V) -> Result<V::Backed> {
        keep_private_read_only(&mut vma)?;
        vma.map_pfns_on_fault::<Self, _>()
    }
}

#[vtable]
impl VmOperations for HugeNode {
    type Data = Device<Self>;

    fn open(dev: &Self::Data) {
        dev.vma_opened();
    }

    fn close(dev: &Self::Data) {
        dev.vma_closed();
    }

    fn pfns_mapped(dev: &Self::Data, size: EntrySize) {
        dev.count_fault(size.pages(), true);
    }
}

/// `/dev/vmdev-fault`, and the operations of its VMAs: demand paging from the vmalloc buffer.
pub(crate) struct FaultNode;

impl Node for FaultNode {
    type Mem = VmallocBuffer;
    const BACKING: u32 = BACKING_FAULT;

    fn back<V: VmaSetup<Arc<Device<Self>>>>(mut vma: V) -> Result<V::Backed> {
        // Nothing is mapped now: each page is mapped by `fault` on first touch.
        vma.set_dontexpand();
        vma.set_dontdump();
        Ok(vma.map_on_fault::<Self>())
    }
}

#[vtable]
impl VmOperations for FaultNode {
    type Data = Device<Self>;

    fn open(dev: &Self::Data) {
        dev.vma_opened();
    }

    fn close(dev: &Self::Data) {
        dev.vma_closed();
    }

    // Inlined into the operations' trampoline: one call less per fault.
    #[inline]
    fn fault<'a>(dev: &'a Self::Data, vmf: &'a VmFault) -> FaultResult<'a> {
        // Map the faulting page and the window around it (one page without `fault_around`),
        // which divides the faults of a sequential first touch by the window's pages. Not for a
        // write to a private mapping: the core maps a copy of the one page returned below.
        if let Some(mapped) = vmf.map_window(dev.window_order, dev.mem.pages()) {
            dev.count_fault(mapped.pages(), mapped.fault_page());
            return FaultResult::Mapped(mapped);
        }
        // `pgoff` is the file offset of the faulting page: the VMA's `vm_pgoff` plus the page's
        // index in the VMA. The VMA cannot grow (`VM_DONTEXPAND`) and `mmap()` checked its
        // range, but a page outside the buffer still gets `SIGBUS`, never someone else's memory.
        match dev.mem.page(vmf.pgoff()) {
            Some(page) => {
                dev.count_fault(1, true);
                FaultResult::Page(page)
            }
            None => FaultResult::SigBus,
        }
    }
}

/// `/dev/vmdev-folio`, and the operations of its VMAs: memory in PMD-sized folios, each mapped
/// whole by one PMD entry where the mapping covers its aligned span, else a page per fault. Its
/// pages are ordinary refcounted pages, so private mappings are copy-on-write and
/// `get_user_pages()` works on them.
pub(crate) struct FolioNode;

impl Node for FolioNode {
    type Mem = FolioBuffer;
    const BACKING: u32 = BACKING_FOLIO;

    fn back<V: VmaSetup<Arc<Device<Self>>>>(mut vma: V) -> Result<V::Backed> {
        vma.set_dontdump();
        Ok(vma.map_folios_on_fault::<Self>())
    }
}

#[vtable]
impl VmOperations for FolioNode {
    type Data = Device<Self>;

    fn open(dev: &Self::Data) {
        dev.vma_opened();
    }

    fn close(dev: &Self::Data) {
        dev.vma_closed();
    }

    /// The folio at the PMD span's file offset, whole, where the VMA covers the span and the
    /// offset is the folio's first page; otherwise the core falls back to `fault`.
    // Inlined into the operations' trampoline, as the fault node's `fault`: one call less.
    #[inline]
    fn huge_fault<'a>(dev: &'a Self::Data, vmf: &'a PmdFault) -> Option<PmdMapped<'a>> {
        let folio = dev.mem.folios().folio_at(vmf.span_pgoff()?)?;
        let mapped = vmf.insert_folio(folio)?;
        dev.count_fault(PmdFolio::PAGES, true);
        Some(mapped)
    }

    /// The faulting page alone, which the core locks and maps (or copies, for a write to a
    /// private mapping): the classic `nopage` way. `SIGBUS` past the buffer.
    #[inline]
    fn fault<'a>(dev: &'a Self::Data, vmf: &'a VmFault) -> FaultResult<'a> {
        match dev.mem.folios().page(vmf.pgoff()) {
            Some(page) => {
                dev.count_fault(1, true);
                FaultResult::Page(page)
            }
            None => FaultResult::SigBus,
        }
    }
}
