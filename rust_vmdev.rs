// SPDX-License-Identifier: GPL-2.0

//! rust_vmdev: how a driver maps memory into a process.
//!
//! Three misc devices with one ABI (`include/uapi/rust_vmdev.h`):
//!
//! - `/dev/vmdev-remap`: physically contiguous memory, mapped whole at `mmap()` time with
//!   `remap_pfn_range()`. The VMA is `VM_IO | VM_PFNMAP`: no `struct page` is ever looked at,
//!   nothing faults, and `get_user_pages()` refuses it.
//! - `/dev/vmdev-huge`: the same memory, `VM_IO | VM_PFNMAP` too, but mapped on first touch, with
//!   one PMD or PUD entry per aligned 2 MiB or 1 GiB where the memory and the mapping allow.
//! - `/dev/vmdev-fault`: `vmalloc()` memory. `mmap()` maps nothing; the first touch of a page
//!   faults, and the fault handler maps it (demand paging). With `fault_around`, a fault maps the
//!   aligned window of `fault_around_bytes` around it at once.
//!
//! The buffers are device memory: zeroed at load, shared by every open file and process, freed
//! at unload. docs/design.md follows each path step by step.
//!
//! For teaching, each node also has a debug view in debugfs, root's alone, that lists the kernel
//! address and the page frame of every page of its buffer ([`DebugView`]).
//!
//! This file is driver logic in safe code, and so is `mm_ioctl.rs` (`VMDEV_IOC_MM`, the caller's
//! address space as the kernel holds it); what they build on is in the abstraction files:
//! `chardev.rs` (the character device), `vma_ops.rs` (the VMA API), `memory.rs` (the buffers) and
//! `mm_view.rs` (an address space read under its lock).

mod chardev;
mod memory;
mod mm_ioctl;
mod mm_view;
mod vma_ops;

use chardev::{
    fixed_size_llseek, MiscDevice, MiscDeviceOptions, MiscDeviceRegistration, MmapHook, NodeMode,
    Placement, SeekingFile,
};
use kernel::{
    debugfs::Scope,
    fmt,
    fs::{File, Kiocb},
    ioctl::_IOR,
    iov::{IovIterDest, IovIterSource},
    mm::virt::flags,
    page::{PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, ArcBorrow,
    },
    types::ForeignOwnable,
    uaccess::{UserPtr, UserSlice},
};
use memory::{linear_map, DeviceMemory, PageFrames, PhysBuffer, VmallocBuffer};
use vma_ops::{
    Backed, EntrySize, FaultResult, MmapVma, Prepared, VmFault, VmOperations, VmaDesc, VmaSetup,
};

module! {
    type: RustVmdev,
    name: "rust_vmdev",
    authors: ["rust_vmdev developers"],
    description: "Driver memory mapped into processes: remap_pfn_range, huge PFN faults, page faults",
    license: "GPL",
    params: {
        remap_size: usize {
            default: 4 << 20,
            description: "Bytes of /dev/vmdev-remap's contiguous buffer (page multiple, max one buddy block: 4 MiB with 4 KiB pages)",
        },
        fault_size: usize {
            default: 16 << 20,
            description: "Bytes of /dev/vmdev-fault's vmalloc buffer (page multiple)",
        },
        fault_around: bool {
            default: true,
            description: "A fault on /dev/vmdev-fault maps the fault_around_bytes around it, not one page",
        },
        // 32 pages: where the first touch of the node overtakes udmabuf's (README).
        fault_around_bytes: usize {
            default: 32 * kernel::page::PAGE_SIZE,
            description: "Bytes a fault on /dev/vmdev-fault maps with fault_around: a power of two from one page to one page table's span (2 MiB with 4 KiB pages); default 32 pages",
        },
        reserve_mem: bool {
            default: false,
            description: "Serve /dev/vmdev-remap and /dev/vmdev-huge from the RAM reserved by reserve_mem=SIZE:ALIGN:rust_vmdev on the kernel command line",
        },
        phys_base: u64 {
            default: 0,
            description: "Serve /dev/vmdev-remap from this boot-reserved physical address (memmap=, DT no-map)",
        },
        phys_size: u64 {
            default: 0,
            description: "Size in bytes of the phys_base range",
        },
        mmap_prepare: bool {
            default: true,
            description: "The nodes' mapping hook: f_op->mmap_prepare (1), or the deprecated f_op->mmap (0)",
        },
        mode: u32 {
            default: 0o600,
            description: "Permissions of both device nodes, octal, read/write bits only (<= 0666)",
        },
    },
}

/// `struct vmdev_info`, the answer to [`VMDEV_IOC_INFO`].
#[derive(IntoBytes, zerocopy_derive::Immutable)]
#[repr(C)]
struct VmdevInfo {
    size: u64,
    backing: u32,
    flags: u32,
    live_vmas: u64,
    faults: u64,
    around_pages: u64,
}

// `sizeof(struct vmdev_info)` in the header, which `vmdev_helpers.c` asserts too; the derive above
// proves there is no padding.
const _: () = assert!(size_of::<VmdevInfo>() == 40);

/// `_IOR('V', 1, struct vmdev_info)`: reports the device's size, kind and counters.
const VMDEV_IOC_INFO: u32 = _IOR::<VmdevInfo>('V' as u32, 1);

/// `vmdev_info.backing` of `/dev/vmdev-remap`.
const BACKING_REMAP: u32 = 1;
/// `vmdev_info.backing` of `/dev/vmdev-fault`.
const BACKING_FAULT: u32 = 2;
/// `vmdev_info.backing` of `/dev/vmdev-huge`.
const BACKING_HUGE: u32 = 3;
/// `vmdev_info.flags`: a fault maps the window of pages around it, not one page.
const FLAG_FAULT_AROUND: u32 = 1 << 0;
/// `vmdev_info.flags`: the memory is a physical range reserved at boot.
const FLAG_BOOT_RESERVED: u32 = 1 << 1;
/// `vmdev_info.flags` of `/dev/vmdev-huge`: this kernel can map it with PMD entries.
const FLAG_HUGE_PMD: u32 = 1 << 2;
/// `vmdev_info.flags` of `/dev/vmdev-huge`: this kernel, on this CPU, can map it with PUD entries.
const FLAG_HUGE_PUD: u32 = 1 << 3;
/// `vmdev_info.flags`: the node's mapping hook is `f_op->mmap_prepare`.
const FLAG_MMAP_PREPARE: u32 = 1 << 4;

/// Where `vmdev_info.flags` of `/dev/vmdev-fault` holds log2 of its window's bytes (bits 26-31,
/// as `MAP_HUGE_SHIFT` in `mmap()`'s flags).
const FAULT_WINDOW_SHIFT: u32 = 26;

/// One device node: its memory and what it counts. The registration, every open file and
/// every VMA that maps it hold an `Arc` to it.
struct Device<N: Node> {
    /// The memory, which the remap and huge nodes share.
    mem: Arc<N::Mem>,
    /// `vmdev_info.flags`.
    flags: u32,
    /// log2 of the pages one fault maps at most: the fault node's window from `flags`, 0 on the
    /// other nodes. Kept apart, so that a fault reads it instead of working it out from `flags`,
    /// and an order, so that the compiler sees the window is a power of two and aligns with a
    /// mask, not a division.
    window_order: u32,
    /// VMAs that map this device now, in every process: each counted from its
    /// `VmOperations::open` to its `close`.
    live_vmas: Atomic<u64>,
    /// Faulting pages the fault handlers mapped.
    faults: Atomic<u64>,
    /// Pages mapped together with a faulting one.
    around_pages: Atomic<u64>,
}

/// What differs between the kinds of node. Each kind is also the `VmOperations` of its VMAs.
trait Node: VmOperations<Data = Device<Self>> + Send + Sync + 'static {
    /// The memory behind the node.
    type Mem: DeviceMemory + Send + Sync;

    /// `vmdev_info.backing`.
    const BACKING: u32;

    /// Sets up `vma` in `f_op->mmap`; it maps pages of `dev` from `vm_pgoff` on, a range
    /// already checked to be inside the memory.
    fn mmap(dev: Arc<Device<Self>>, vma: MmapVma<'_>) -> Result<Backed<'_>>;

    /// The same in `f_op->mmap_prepare`, for a mapping of a file of the node; what `mmap` does
    /// itself, the core does after this returns.
    fn mmap_prepare(desc: VmaDesc<'_, Arc<Device<Self>>>) -> Result<Prepared<'_>>;
}

impl<N: Node> Device<N> {
    fn new(mem: Arc<N::Mem>, flags: u32) -> Result<Arc<Self>> {
        Ok(Arc::new(
            Self {
                mem,
                flags,
                window_order: (flags >> FAULT_WINDOW_SHIFT).saturating_sub(PAGE_SHIFT as u32),
                live_vmas: Atomic::new(0),
                faults: Atomic::new(0),
                around_pages: Atomic::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    /// `EINVAL` unless `vma` maps pages inside the memory. Its offset and length come from user
    /// space (`mmap()`'s): the sum is checked without overflowing.
    fn check_range(&self, vma: &impl VmaSetup) -> Result {
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
    fn mapped(&self, pages: usize, fault_page: bool) {
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
        N::mmap_prepare(desc)
    }

    fn mmap<'a>(dev: ArcBorrow<'_, Self>, _file: &File, vma: MmapVma<'a>) -> Result<Backed<'a>> {
        dev.check_range(&vma)?;
        N::mmap(dev.into(), vma)
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
            _ if mm_ioctl::is_mm_request(cmd) => mm_ioctl::answer(cmd, arg),
            _ => Err(ENOTTY),
        }
    }
}

/// A private mapping that may become writable would be copy-on-write, which a PFN mapping
/// cannot be (`remap_pfn_range()` would put the physical address in `vm_pgoff`). Refuse a
/// writable one; a read-only private mapping stays read-only for good (`VM_MAYWRITE` cleared),
/// which the abstraction then accepts.
fn keep_private_read_only(vma: &mut impl VmaSetup) -> Result {
    if vma.flags() & flags::SHARED == 0 {
        vma.try_clear_maywrite()?;
    }
    Ok(())
}

/// `/dev/vmdev-remap`, and the operations of its VMAs: every page is mapped at `mmap()` time,
/// so there is no fault handler (a fault would be a `SIGBUS`); only the mapping count.
struct Remap;

impl Node for Remap {
    type Mem = PhysBuffer;
    const BACKING: u32 = BACKING_REMAP;

    fn mmap(dev: Arc<Device<Self>>, mut vma: MmapVma<'_>) -> Result<Backed<'_>> {
        keep_private_read_only(&mut vma)?;
        vma.remap_pfns::<Self, _>(dev)
    }

    fn mmap_prepare(mut desc: VmaDesc<'_, Arc<Device<Self>>>) -> Result<Prepared<'_>> {
        keep_private_read_only(&mut desc)?;
        desc.remap_pfns::<Self, _>()
    }
}

#[vtable]
impl VmOperations for Remap {
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
struct Huge;

impl Node for Huge {
    type Mem = PhysBuffer;
    const BACKING: u32 = BACKING_HUGE;

    fn mmap(dev: Arc<Device<Self>>, mut vma: MmapVma<'_>) -> Result<Backed<'_>> {
        keep_private_read_only(&mut vma)?;
        vma.map_pfns_on_fault::<Self, _>(dev)
    }

    fn mmap_prepare(mut desc: VmaDesc<'_, Arc<Device<Self>>>) -> Result<Prepared<'_>> {
        keep_private_read_only(&mut desc)?;
        desc.map_pfns_on_fault::<Self, _>()
    }
}

#[vtable]
impl VmOperations for Huge {
    type Data = Device<Self>;

    fn open(dev: &Self::Data) {
        dev.vma_opened();
    }

    fn close(dev: &Self::Data) {
        dev.vma_closed();
    }

    fn pfns_mapped(dev: &Self::Data, size: EntrySize) {
        dev.mapped(size.pages(), true);
    }
}

/// `/dev/vmdev-fault`, and the operations of its VMAs: demand paging from the vmalloc buffer.
struct Fault;

impl Node for Fault {
    type Mem = VmallocBuffer;
    const BACKING: u32 = BACKING_FAULT;

    fn mmap(dev: Arc<Device<Self>>, mut vma: MmapVma<'_>) -> Result<Backed<'_>> {
        // Nothing is mapped now: each page is mapped by `fault` on first touch.
        vma.set_dontexpand();
        vma.set_dontdump();
        Ok(vma.map_on_fault::<Self>(dev))
    }

    fn mmap_prepare(mut desc: VmaDesc<'_, Arc<Device<Self>>>) -> Result<Prepared<'_>> {
        desc.set_dontexpand();
        desc.set_dontdump();
        Ok(desc.map_on_fault::<Self>())
    }
}

#[vtable]
impl VmOperations for Fault {
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
        if let Some(mapped) = vmf.map_window(1 << dev.window_order, dev.mem.pages()) {
            dev.mapped(mapped.pages(), mapped.fault_page());
            return FaultResult::Mapped(mapped);
        }
        // `pgoff` is the file offset of the faulting page: the VMA's `vm_pgoff` plus the page's
        // index in the VMA. The VMA cannot grow (`VM_DONTEXPAND`) and `mmap()` checked its
        // range, but a page outside the buffer still gets `SIGBUS`, never someone else's memory.
        match dev.mem.page(vmf.pgoff()) {
            Some(page) => {
                dev.mapped(1, true);
                FaultResult::Page(page)
            }
            None => FaultResult::SigBus,
        }
    }
}

/// The name under which `reserve_mem=SIZE:ALIGN:NAME` reserves the memory of `reserve_mem=1`.
const RESERVE_MEM_NAME: &CStr = c"rust_vmdev";

/// Allocates the remap device's memory from the module parameters, saying why on failure.
fn remap_memory() -> Result<PhysBuffer> {
    let (base, size) = (
        *module_parameters::phys_base.value_ref(),
        *module_parameters::phys_size.value_ref(),
    );
    if *module_parameters::reserve_mem.value_ref() {
        if base != 0 || size != 0 {
            pr_err!("reserve_mem=1 with phys_base or phys_size: refused (EINVAL): choose one\n");
            return Err(EINVAL);
        }
        return PhysBuffer::reserve_mem(RESERVE_MEM_NAME).inspect_err(|e| {
            pr_err!(
                "reserve_mem=1: refused ({e:?}): the kernel command line must reserve a \
                 page-aligned range as reserve_mem=SIZE:ALIGN:{} (an ALIGN of 2M or more lets \
                 the huge node map it with PMD entries)\n",
                RESERVE_MEM_NAME.to_str().unwrap_or("?")
            );
        });
    }
    if base != 0 || size != 0 {
        return PhysBuffer::reserved(base, size, c"rust_vmdev").inspect_err(|e| {
            if *e == EBUSY {
                pr_err!(
                    "phys_base={base:#x} phys_size={size:#x}: refused ({e:?}): part of the range \
                     is busy, claimed by another driver or by the kernel (see /proc/iomem)\n"
                );
            } else {
                pr_err!(
                    "phys_base={base:#x} phys_size={size:#x}: refused ({e:?}): the range must be \
                     non-empty, page-aligned, not wrap, and lie wholly in memory reserved at boot \
                     (memmap=SIZE$ADDR, or a no-map /reserved-memory region), outside System RAM\n"
                );
            }
        });
    }
    let size = *module_parameters::remap_size.value_ref();
    PhysBuffer::alloc(size).inspect_err(|e| {
        pr_err!(
            "remap_size={size}: refused ({e:?}): it must be a non-zero multiple of {PAGE_SIZE} no \
             larger than {} bytes, one physically contiguous run the page allocator has free\n",
            PhysBuffer::MAX_ALLOC
        );
    })
}

/// Allocates the fault device's memory from the module parameters, saying why on failure.
fn fault_memory() -> Result<VmallocBuffer> {
    let size = *module_parameters::fault_size.value_ref();
    VmallocBuffer::new(size).inspect_err(|e| {
        pr_err!(
            "fault_size={size}: refused ({e:?}): it must be a non-zero multiple of {PAGE_SIZE} \
             that vmalloc can give\n"
        );
    })
}

/// log2 of the bytes one fault on the fault node maps at most, from the `fault_around` and
/// `fault_around_bytes` parameters, saying why on failure. A page table's worth at most: the cap
/// the core puts on its own `fault_around_bytes`.
fn fault_window_shift() -> Result<u32> {
    let bytes = *module_parameters::fault_around_bytes.value_ref();
    let max = EntrySize::Pmd.bytes();
    if !bytes.is_power_of_two() || !(PAGE_SIZE..=max).contains(&bytes) {
        pr_err!(
            "fault_around_bytes={bytes}: refused (EINVAL): it must be a power of two from \
             {PAGE_SIZE} (one page) to {max} (what one page table maps)\n"
        );
        return Err(EINVAL);
    }
    Ok(if *module_parameters::fault_around.value_ref() {
        bytes.trailing_zeros()
    } else {
        PAGE_SHIFT as u32
    })
}

/// The nodes' permissions from the `mode` parameter, saying why on failure.
fn node_mode() -> Result<NodeMode> {
    let mode = *module_parameters::mode.value_ref();
    NodeMode::new(mode).inspect_err(|e| {
        pr_err!(
            "mode={mode:#o}: refused ({e:?}): it must be non-zero and have only read and write \
             bits (at most 0666)\n"
        );
    })
}

/// The debug view: for each node, how the kernel reaches each page of its buffer (the format is
/// in `include/uapi/rust_vmdev.h`). A teaching aid that prints kernel addresses, which defeat
/// KASLR: the files are root's alone (mode 0400, in debugfs, itself root's), and the driver
/// gives user space no physical or kernel address anywhere else.
struct DebugView {
    phys: Arc<PhysBuffer>,
    vmalloc: Arc<VmallocBuffer>,
}

impl DebugView {
    /// `/sys/kernel/debug/rust_vmdev/`, a file per node, removed when the `Scope` is dropped.
    fn register(self) -> impl PinInit<Scope<Self>> {
        Scope::dir(self, c"rust_vmdev", |view, dir| {
            dir.read_callback_file(c"vmdev-remap", &view.phys, &write_view::<PhysBuffer>);
            dir.read_callback_file(c"vmdev-huge", &view.phys, &write_view::<PhysBuffer>);
            dir.read_callback_file(c"vmdev-fault", &view.vmalloc, &write_view::<VmallocBuffer>);
        })
    }
}

/// Writes the debug view of `mem`: a header of `key value` lines, then `index address pfn` for
/// each page.
fn write_view<M: PageFrames + DeviceMemory>(
    mem: &Arc<M>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let (page_offset, page_offset_phys) = linear_map();
    let pages = mem.len() / PAGE_SIZE;
    writeln!(f, "memory {}", mem.kernel_mapping().name())?;
    writeln!(f, "page_size {PAGE_SIZE}")?;
    writeln!(f, "page_offset {page_offset:#x}")?;
    writeln!(f, "page_offset_phys {page_offset_phys:#x}")?;
    writeln!(f, "pages {pages}")?;
    for index in 0..pages {
        if let Some((addr, pfn)) = mem.frame(index) {
            writeln!(f, "{index} {addr:#x} {pfn:#x}")?;
        }
    }
    Ok(())
}

#[pin_data]
struct RustVmdev {
    #[pin]
    _debugfs: Scope<DebugView>,
    #[pin]
    _remap: MiscDeviceRegistration<Device<Remap>>,
    #[pin]
    _huge: MiscDeviceRegistration<Device<Huge>>,
    #[pin]
    _fault: MiscDeviceRegistration<Device<Fault>>,
}

impl kernel::InPlaceModule for RustVmdev {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pin_init::pin_init_scope(|| {
            // Every parameter is checked before anything is allocated or registered.
            let mode = node_mode()?;
            let window_shift = fault_window_shift()?;
            let phys = Arc::new(remap_memory()?, GFP_KERNEL)?;
            let reserved = if phys.is_boot_reserved() {
                FLAG_BOOT_RESERVED
            } else {
                0
            };
            let huge = if EntrySize::Pmd.mappable() {
                FLAG_HUGE_PMD
            } else {
                0
            } | if EntrySize::Pud.mappable() {
                FLAG_HUGE_PUD
            } else {
                0
            };
            let (hook, hook_flag, hook_name) = if *module_parameters::mmap_prepare.value_ref() {
                (MmapHook::MmapPrepare, FLAG_MMAP_PREPARE, "mmap_prepare")
            } else {
                (MmapHook::Mmap, 0, "mmap")
            };
            let remap = Device::<Remap>::new(phys.clone(), reserved | hook_flag)?;
            let huge = Device::<Huge>::new(phys, reserved | huge | hook_flag)?;
            let fault_mem = Arc::new(fault_memory()?, GFP_KERNEL)?;
            let around = *module_parameters::fault_around.value_ref();
            let around_flag = if around { FLAG_FAULT_AROUND } else { 0 };
            let window_flags = around_flag | window_shift << FAULT_WINDOW_SHIFT;
            let fault = Device::<Fault>::new(fault_mem, window_flags | hook_flag)?;
            let reserved = if reserved != 0 {
                ", reserved at boot"
            } else {
                ""
            };
            let window = PAGE_SIZE << fault.window_order;
            pr_info!(
                "vmdev-remap: {} bytes, physically contiguous{reserved}, mapped by remap_pfn_range; \
                 the nodes' mapping hook is f_op->{hook_name}\n",
                remap.mem.len()
            );
            pr_info!(
                "vmdev-huge: the same memory, mapped on fault with the largest entries that fit\n"
            );
            pr_info!(
                "vmdev-fault: {} bytes, vmalloc, mapped on fault, {window} bytes per fault\n",
                fault.mem.len()
            );
            let view = DebugView {
                phys: remap.mem.clone(),
                vmalloc: fault.mem.clone(),
            };
            let options = move |name| MiscDeviceOptions { name, mode, hook };
            Ok(try_pin_init!(Self {
                _debugfs <- view.register(),
                _remap <- MiscDeviceRegistration::register(options(c"vmdev-remap"), remap),
                _huge <- MiscDeviceRegistration::register(options(c"vmdev-huge"), huge),
                _fault <- MiscDeviceRegistration::register(options(c"vmdev-fault"), fault),
            }))
        })
    }
}
