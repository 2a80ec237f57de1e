// SPDX-License-Identifier: GPL-2.0

//! rust_vmdev: how a driver maps memory into a process.
//!
//! Two misc devices with one ABI (`include/uapi/rust_vmdev.h`):
//!
//! - `/dev/vmdev-remap`: physically contiguous memory, mapped whole at `mmap()` time with
//!   `remap_pfn_range()`. The VMA is `VM_IO | VM_PFNMAP`: no `struct page` is ever looked at,
//!   nothing faults, and `get_user_pages()` refuses it.
//! - `/dev/vmdev-fault`: `vmalloc()` memory. `mmap()` maps nothing; the first touch of each page
//!   faults, and the fault handler hands the core the page (demand paging). With `fault_around`,
//!   a read fault also maps its neighbours (`map_pages`).
//!
//! Both buffers are device memory: zeroed at load, shared by every open file and process,
//! freed at unload. README.md ("How the two mmap paths work") follows both paths step by step.

mod vma_ops;

use kernel::{
    fs::{File, Kiocb},
    ioctl::_IOR,
    iov::{IovIterDest, IovIterSource},
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    mm::virt::{flags, VmaNew, VmaRef},
    page::{PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, ArcBorrow,
    },
    transmute::AsBytes,
    types::ForeignOwnable,
    uaccess::{UserPtr, UserSlice},
};
use vma_ops::{
    DeviceMemory, Fault, FaultAround, PhysBuffer, VmFault, VmOperations, VmaNewExt, VmaRefExt,
    VmallocBuffer,
};

module! {
    type: RustVmdev,
    name: "rust_vmdev",
    authors: ["rust_vmdev developers"],
    description: "Two ways a driver maps memory into a process: remap_pfn_range and page faults",
    license: "GPL",
    params: {
        remap_size: usize {
            default: 4 << 20,
            description: "Bytes of /dev/vmdev-remap's contiguous buffer (page multiple, max 4 MiB)",
        },
        fault_size: usize {
            default: 16 << 20,
            description: "Bytes of /dev/vmdev-fault's vmalloc buffer (page multiple)",
        },
        fault_around: bool {
            default: true,
            description: "Map the neighbours of a read-faulted page too (vm_ops->map_pages)",
        },
        phys_base: u64 {
            default: 0,
            description: "Serve /dev/vmdev-remap from this boot-reserved physical address (memmap=)",
        },
        phys_size: u64 {
            default: 0,
            description: "Size in bytes of the phys_base range",
        },
    },
}

/// `struct vmdev_info`, the answer to [`VMDEV_IOC_INFO`] (`include/uapi/rust_vmdev.h`).
#[repr(C)]
struct VmdevInfo {
    size: u64,
    backing: u32,
    flags: u32,
    live_vmas: u64,
    faults: u64,
    around_pages: u64,
}

// SAFETY: `VmdevInfo` is `repr(C)` with only integer fields, each at its natural alignment and
// none followed by padding (8 + 4 + 4 + 8 + 8 + 8 bytes), so all of its bytes are initialized.
unsafe impl AsBytes for VmdevInfo {}

/// `_IOR('V', 1, struct vmdev_info)`: reports the device's size, kind and counters.
const VMDEV_IOC_INFO: u32 = _IOR::<VmdevInfo>('V' as u32, 1);

/// `vmdev_info.backing` of `/dev/vmdev-remap`.
const BACKING_REMAP: u32 = 1;
/// `vmdev_info.backing` of `/dev/vmdev-fault`.
const BACKING_FAULT: u32 = 2;
/// `vmdev_info.flags`: read faults map their neighbours too.
const FLAG_FAULT_AROUND: u32 = 1 << 0;
/// `vmdev_info.flags`: the memory is a physical range reserved at boot.
const FLAG_BOOT_RESERVED: u32 = 1 << 1;

/// One device node: its memory and what it counts. Every open file and every VMA that maps it
/// holds an `Arc` to it.
struct Device<M> {
    mem: M,
    /// `vmdev_info.flags`.
    flags: u32,
    /// VMAs that map this device now, in every process: each counted from its
    /// `VmOperations::open` to its `close`.
    live_vmas: Atomic<u64>,
    /// Pages mapped by the fault handler.
    faults: Atomic<u64>,
    /// Pages mapped by fault-around.
    around_pages: Atomic<u64>,
}

/// What differs between the two kinds of device.
trait Backing: DeviceMemory + Send + Sync + Sized + 'static {
    /// `vmdev_info.backing`.
    const KIND: u32;

    /// The registered device of this kind.
    fn device(devices: &Devices) -> &Arc<Device<Self>>;

    /// Sets up `vma`, which maps pages `first_page..` of `dev`, a range already checked to be
    /// inside the memory.
    fn mmap(dev: Arc<Device<Self>>, vma: &VmaNew, first_page: usize) -> Result;
}

impl<M: Backing> Device<M> {
    fn new(mem: M, flags: u32) -> Result<Arc<Self>> {
        Ok(Arc::new(
            Self {
                mem,
                flags,
                live_vmas: Atomic::new(0),
                faults: Atomic::new(0),
                around_pages: Atomic::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    fn info(&self) -> VmdevInfo {
        VmdevInfo {
            size: self.mem.len() as u64,
            backing: M::KIND,
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
}

impl<M> AsRef<M> for Device<M> {
    fn as_ref(&self) -> &M {
        &self.mem
    }
}

/// The file position of `kiocb` as an offset into the buffer.
fn position<T: ForeignOwnable>(kiocb: &Kiocb<'_, T>) -> Result<usize> {
    usize::try_from(kiocb.ki_pos()).map_err(|_| EINVAL)
}

#[vtable]
impl<M: Backing> MiscDevice for Device<M> {
    type Ptr = Arc<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Arc<Self>> {
        let devices = DEVICES.lock();
        Ok(M::device(devices.as_ref().ok_or(ENODEV)?).clone())
    }

    fn mmap(dev: ArcBorrow<'_, Self>, _file: &File, vma: &VmaNew) -> Result {
        // The VMA asks for `pages` pages from file page `first_page` on. Both come from user
        // space (offset and length of `mmap()`): check the sum without overflowing.
        let first_page = vma.pgoff();
        let pages = (vma.end() - vma.start()) >> PAGE_SHIFT;
        match first_page.checked_add(pages) {
            Some(end) if end <= dev.mem.len() >> PAGE_SHIFT => M::mmap(dev.into(), vma, first_page),
            _ => Err(EINVAL),
        }
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
                user.writer().write(&dev.info())?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}

impl Backing for PhysBuffer {
    const KIND: u32 = BACKING_REMAP;

    fn device(devices: &Devices) -> &Arc<Device<Self>> {
        &devices.remap
    }

    fn mmap(dev: Arc<Device<Self>>, vma: &VmaNew, first_page: usize) -> Result {
        // A private mapping that may become writable would be copy-on-write, which
        // `remap_pfn_range()` only supports by putting the physical address in `vm_pgoff`.
        // Refuse it; a read-only private mapping stays read-only for good.
        if vma.flags() & flags::SHARED == 0 {
            vma.try_clear_maywrite()?;
        }
        vma.remap_pfns::<RemapMapping>(dev, first_page)
    }
}

impl Backing for VmallocBuffer {
    const KIND: u32 = BACKING_FAULT;

    fn device(devices: &Devices) -> &Arc<Device<Self>> {
        &devices.fault
    }

    fn mmap(dev: Arc<Device<Self>>, vma: &VmaNew, _first_page: usize) -> Result {
        // Nothing is mapped now: each page is mapped by `fault` (or fault-around) on first touch.
        vma.set_dontexpand();
        vma.set_dontdump();
        let around = dev.flags & FLAG_FAULT_AROUND != 0;
        if around {
            // Fault-around inserts pages with `vm_insert_pages()`, which needs `VM_MIXEDMAP`.
            vma.set_mixedmap();
        }
        vma.set_vm_ops::<FaultMapping>(dev, around);
        Ok(())
    }
}

/// The operations of a `/dev/vmdev-remap` VMA: every page is mapped at `mmap()` time, so there
/// is no fault handler (a fault would be a `SIGBUS`); only the mapping count.
struct RemapMapping;

#[vtable]
impl VmOperations for RemapMapping {
    type Data = Device<PhysBuffer>;

    fn open(dev: &Self::Data, _vma: &VmaRef) {
        dev.vma_opened();
    }

    fn close(dev: &Self::Data, _vma: &VmaRef) {
        dev.vma_closed();
    }
}

/// Pages a write fault maps at once, with fault-around on (as the kernel's default
/// `fault_around_bytes`, 64 KiB, does for reads).
const WRITE_WINDOW: usize = 16;

/// The operations of a `/dev/vmdev-fault` VMA: demand paging from the vmalloc buffer.
struct FaultMapping;

#[vtable]
impl VmOperations for FaultMapping {
    type Data = Device<VmallocBuffer>;

    fn open(dev: &Self::Data, _vma: &VmaRef) {
        dev.vma_opened();
    }

    fn close(dev: &Self::Data, _vma: &VmaRef) {
        dev.vma_closed();
    }

    fn fault<'a>(dev: &'a Self::Data, vmf: &VmFault) -> Fault<'a> {
        // A write to a shared mapping is never faulted around by the core: map its neighbours
        // here (this may sleep), the way fault-around maps a read fault's.
        if vmf.is_shared_write() {
            if let Some(mapped) = vmf.map_window(WRITE_WINDOW, |pgoff| dev.mem.page(pgoff)) {
                dev.faults.add(mapped as u64, Relaxed);
                return Fault::Mapped;
            }
        }
        // `pgoff` is the file offset of the faulting page: the VMA's `vm_pgoff` plus the page's
        // index in the VMA. The VMA cannot grow (`VM_DONTEXPAND`) and `mmap()` checked its
        // range, but a page outside the buffer still gets `SIGBUS`, never someone else's memory.
        match dev.mem.page(vmf.pgoff()) {
            Some(page) => {
                dev.faults.add(1, Relaxed);
                Fault::Page(page)
            }
            None => Fault::SigBus,
        }
    }

    fn map_pages(dev: &Self::Data, around: &FaultAround<'_>) {
        let mapped = around.map(|pgoff| dev.mem.page(pgoff));
        dev.around_pages.add(mapped as u64, Relaxed);
    }
}

/// The devices open files and mappings refer to; published while both are registered.
struct Devices {
    remap: Arc<Device<PhysBuffer>>,
    fault: Arc<Device<VmallocBuffer>>,
}

kernel::sync::global_lock! {
    // SAFETY: `RustVmdev::init` initializes it, once, before anything else uses it.
    unsafe(uninit) static DEVICES: Mutex<Option<Devices>> = None;
}

/// Keeps [`DEVICES`] published; unpublishes it when dropped, after both deregistrations.
struct Published;

impl Published {
    fn new(devices: Devices) -> Self {
        *DEVICES.lock() = Some(devices);
        Published
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        *DEVICES.lock() = None;
    }
}

/// Allocates the remap device's memory from the module parameters, saying why on failure.
fn remap_memory() -> Result<(PhysBuffer, u32)> {
    let (base, size) = (
        *module_parameters::phys_base.value_ref(),
        *module_parameters::phys_size.value_ref(),
    );
    if base != 0 || size != 0 {
        return match PhysBuffer::reserved(base, size) {
            Ok(mem) => Ok((mem, FLAG_BOOT_RESERVED)),
            Err(e) => {
                pr_err!(
                    "phys_base={base:#x} phys_size={size:#x}: refused ({e:?}): the range must be \
                     non-empty, page-aligned, not wrap, and lie wholly in memory reserved at \
                     boot (memmap=SIZE$ADDR), outside System RAM\n"
                );
                Err(e)
            }
        };
    }
    let size = *module_parameters::remap_size.value_ref();
    PhysBuffer::alloc(size)
        .map(|mem| (mem, 0))
        .inspect_err(|e| {
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

fn new_devices() -> Result<Devices> {
    let (remap_mem, remap_flags) = remap_memory()?;
    let around = *module_parameters::fault_around.value_ref();
    let devices = Devices {
        remap: Device::new(remap_mem, remap_flags)?,
        fault: Device::new(fault_memory()?, if around { FLAG_FAULT_AROUND } else { 0 })?,
    };
    let reserved = if remap_flags & FLAG_BOOT_RESERVED != 0 {
        ", reserved at boot"
    } else {
        ""
    };
    let around = if around { " with fault-around" } else { "" };
    pr_info!(
        "vmdev-remap: {} bytes, physically contiguous{reserved}, mapped by remap_pfn_range\n",
        devices.remap.mem.len()
    );
    pr_info!(
        "vmdev-fault: {} bytes, vmalloc, mapped on fault{around}\n",
        devices.fault.mem.len()
    );
    Ok(devices)
}

#[pin_data]
struct RustVmdev {
    #[pin]
    _remap: MiscDeviceRegistration<Device<PhysBuffer>>,
    #[pin]
    _fault: MiscDeviceRegistration<Device<VmallocBuffer>>,
    // Dropped after both registrations, so no open can find a device half torn down.
    _published: Published,
}

impl kernel::InPlaceModule for RustVmdev {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // SAFETY: Called once, before anything uses `DEVICES`.
        unsafe { DEVICES.init() };
        try_pin_init!(Self {
            _published: Published::new(new_devices()?),
            _remap <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"vmdev-remap" }),
            _fault <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"vmdev-fault" }),
        })
    }
}
