// SPDX-License-Identifier: GPL-2.0

//! rust_vmdev: how a driver maps memory into a process.
//!
//! Four misc devices with one ABI (`include/uapi/rust_vmdev.h`):
//!
//! - `/dev/vmdev-remap`: physically contiguous memory, mapped whole at `mmap()` time with
//!   `remap_pfn_range()`. The VMA is `VM_IO | VM_PFNMAP`: no `struct page` is ever looked at,
//!   nothing faults, and `get_user_pages()` refuses it.
//! - `/dev/vmdev-huge`: the same memory, `VM_IO | VM_PFNMAP` too, but mapped on first touch, with
//!   one PMD or PUD entry per aligned 2 MiB or 1 GiB where the memory and the mapping allow.
//! - `/dev/vmdev-fault`: `vmalloc()` memory. `mmap()` maps nothing; the first touch of a page
//!   faults, and the fault handler maps it (demand paging). With `fault_around`, a fault maps the
//!   aligned window of `fault_around_bytes` around it at once.
//! - `/dev/vmdev-folio`: folios of as many pages as a PMD entry maps (2 MiB with 4 KiB pages),
//!   allocated at load. A fault maps a whole folio with one PMD entry where the mapping covers its
//!   aligned span, else the faulting page alone. Unlike the PFN maps above, its pages are ordinary
//!   refcounted pages: private mappings are copy-on-write, and `get_user_pages()` works on them.
//!
//! The buffers are device memory: zeroed at load, shared by every open file and process, freed
//! at unload. docs/design.md follows each path step by step.
//!
//! For teaching, each node also has a debug view in debugfs, root's alone, that lists the kernel
//! address and the page frame of every page of its buffer (`debug_view.rs`).
//!
//! The driver is safe code, a file per concern: this one loads and registers the nodes;
//! `nodes.rs` holds the nodes, `params.rs` the checks of the module parameters, `uapi.rs` the
//! ABI, `debug_view.rs` the debug view, and `mm_ioctl.rs` `VMDEV_IOC_MM` (the caller's address
//! space as the kernel holds it). `memory.rs` holds the buffers and the raw calls their
//! allocation takes. They build on the abstraction, which names nothing of the driver:
//! `chardev.rs` (the character device), `vma_ops.rs` with `vma_ops/` (the VMA API) and
//! `mm_view.rs` (an address space read under its lock).

mod chardev;
mod debug_view;
mod memory;
mod mm_ioctl;
mod mm_view;
mod nodes;
mod params;
mod uapi;
mod vma_ops;

use chardev::{MiscDeviceOptions, MiscDeviceRegistration, MmapHook};
use debug_view::DebugView;
use kernel::{debugfs::Scope, page::PAGE_SIZE, prelude::*, sync::Arc};
use memory::DeviceMemory;
use nodes::{Device, FaultNode, FolioNode, HugeNode, RemapNode};
use uapi::{
    window_flags, FLAG_BOOT_RESERVED, FLAG_FAULT_AROUND, FLAG_HUGE_PMD, FLAG_HUGE_PUD,
    FLAG_MMAP_PREPARE,
};
use vma_ops::{EntrySize, PmdFolio};

module! {
    type: RustVmdev,
    name: "rust_vmdev",
    authors: ["rust_vmdev developers"],
    description:
        "Driver memory mapped into processes: remap_pfn_range, huge PFN faults, page faults, huge folios",
    license: "GPL",
    params: {
        remap_size: usize {
            default: 4 << 20,
            description:
                "Bytes of /dev/vmdev-remap's contiguous buffer (page multiple, max one buddy block: 4 MiB with 4 KiB pages)",
        },
        fault_size: usize {
            default: 16 << 20,
            description: "Bytes of /dev/vmdev-fault's vmalloc buffer (page multiple)",
        },
        fault_around: bool {
            default: true,
            description:
                "A fault on /dev/vmdev-fault maps the fault_around_bytes around it, not one page",
        },
        fault_around_bytes: usize {
            default: 32 * kernel::page::PAGE_SIZE,
            description:
                "Bytes a fault on /dev/vmdev-fault maps with fault_around: a power of two from one page to one page table's span (2 MiB with 4 KiB pages); default 32 pages",
        },
        folio_size: usize {
            default: 64 << 20,
            description:
                "Bytes of /dev/vmdev-folio's buffer of PMD-sized folios (a multiple of the PMD size: 2 MiB with 4 KiB pages)",
        },
        reserve_mem: bool {
            default: false,
            description:
                "Serve /dev/vmdev-remap and /dev/vmdev-huge from the RAM reserved by reserve_mem=SIZE:ALIGN:rust_vmdev on the kernel command line",
        },
        phys_base: u64 {
            default: 0,
            description:
                "Serve /dev/vmdev-remap from this boot-reserved physical address (memmap=, DT no-map)",
        },
        phys_size: u64 {
            default: 0,
            description: "Size in bytes of the phys_base range",
        },
        mmap_prepare: bool {
            default: true,
            description:
                "The nodes' mapping hook: f_op->mmap_prepare (1), or the deprecated f_op->mmap (0)",
        },
        mode: u32 {
            default: 0o600,
            description: "Permissions of the device nodes, octal, read/write bits only (<= 0666)",
        },
    },
}

#[pin_data]
struct RustVmdev {
    #[pin]
    _debugfs: Scope<DebugView>,
    #[pin]
    _remap: MiscDeviceRegistration<Device<RemapNode>>,
    #[pin]
    _huge: MiscDeviceRegistration<Device<HugeNode>>,
    #[pin]
    _fault: MiscDeviceRegistration<Device<FaultNode>>,
    #[pin]
    _folio: MiscDeviceRegistration<Device<FolioNode>>,
}

impl kernel::InPlaceModule for RustVmdev {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pin_init::pin_init_scope(|| {
            // Every parameter is checked before anything is allocated or registered.
            let mode = params::node_mode()?;
            let window_order = params::fault_window_order()?;
            let phys = Arc::new(params::remap_memory()?, GFP_KERNEL)?;
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
            let hook = params::mmap_hook();
            let (hook_flag, hook_name) = match hook {
                MmapHook::MmapPrepare => (FLAG_MMAP_PREPARE, "mmap_prepare"),
                MmapHook::Mmap => (0, "mmap"),
            };
            let remap = Device::<RemapNode>::new(phys.clone(), reserved | hook_flag, 0)?;
            let huge = Device::<HugeNode>::new(phys, reserved | huge | hook_flag, 0)?;
            let fault_mem = Arc::new(params::fault_memory()?, GFP_KERNEL)?;
            let around = *module_parameters::fault_around.value_ref();
            let around_flag = if around { FLAG_FAULT_AROUND } else { 0 };
            let fault_flags = around_flag | window_flags(window_order) | hook_flag;
            let fault = Device::<FaultNode>::new(fault_mem, fault_flags, window_order)?;
            let folio_mem = Arc::new(params::folio_memory()?, GFP_KERNEL)?;
            let folio_pmd = if PmdFolio::MAPPABLE_BY_PMD {
                FLAG_HUGE_PMD
            } else {
                0
            };
            let folio = Device::<FolioNode>::new(folio_mem, folio_pmd | hook_flag, 0)?;
            let reserved = if reserved != 0 {
                ", reserved at boot"
            } else {
                ""
            };
            let window = PAGE_SIZE << fault.window_order;
            let (remap_len, fault_len) = (remap.mem.len(), fault.mem.len());
            let (folio_len, folio_bytes) = (folio.mem.len(), PmdFolio::SIZE);
            let view = DebugView {
                phys: remap.mem.clone(),
                vmalloc: fault.mem.clone(),
                folios: folio.mem.clone(),
            };
            let options = move |name| MiscDeviceOptions {
                mode: Some(mode),
                hook,
                ..MiscDeviceOptions::new(name)
            };
            // Each node says what it is once registered, under its own name.
            Ok(try_pin_init!(Self {
                _debugfs <- view.register(),
                _remap <- MiscDeviceRegistration::register(options(c"vmdev-remap"), remap),
                _: {
                    dev_info!(
                        _remap.device(),
                        "{remap_len} bytes, physically contiguous{reserved}, mapped by \
                         remap_pfn_range; the nodes' mapping hook is f_op->{hook_name}\n"
                    );
                },
                _huge <- MiscDeviceRegistration::register(options(c"vmdev-huge"), huge),
                _: {
                    dev_info!(
                        _huge.device(),
                        "the same memory, mapped on fault with the largest entries that fit\n"
                    );
                },
                _fault <- MiscDeviceRegistration::register(options(c"vmdev-fault"), fault),
                _: {
                    dev_info!(
                        _fault.device(),
                        "{fault_len} bytes, vmalloc, mapped on fault, {window} bytes per fault\n"
                    );
                },
                _folio <- MiscDeviceRegistration::register(options(c"vmdev-folio"), folio),
                _: {
                    dev_info!(
                        _folio.device(),
                        "{folio_len} bytes in folios of {folio_bytes}, mapped on fault, a folio \
                         per PMD entry where aligned\n"
                    );
                },
            }))
        })
    }
}
