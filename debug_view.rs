// SPDX-License-Identifier: GPL-2.0

//! The debug view in debugfs ([`DebugView`]): where each page of each node's buffer is, for
//! the kernel and in physical memory.

use crate::memory::{linear_map, DeviceMemory, FolioBuffer, PageFrames, PhysBuffer, VmallocBuffer};
use kernel::{debugfs::Scope, fmt, page::PAGE_SIZE, prelude::*, sync::Arc};

/// The debug view: for each node, how the kernel reaches each page of its buffer (the format is
/// in `include/uapi/rust_vmdev.h`). A teaching aid that prints kernel addresses, which defeat
/// KASLR: the files are root's alone (mode 0400, in debugfs, itself root's), and the driver
/// gives user space no physical or kernel address anywhere else.
pub(crate) struct DebugView {
    pub(crate) phys: Arc<PhysBuffer>,
    pub(crate) vmalloc: Arc<VmallocBuffer>,
    pub(crate) folios: Arc<FolioBuffer>,
}

impl DebugView {
    /// `/sys/kernel/debug/rust_vmdev/`, a file per node, removed when the `Scope` is dropped.
    pub(crate) fn register(self) -> impl PinInit<Scope<Self>> {
        Scope::dir(self, c"rust_vmdev", |view, dir| {
            dir.read_callback_file(c"vmdev-remap", &view.phys, &write_view::<PhysBuffer>);
            dir.read_callback_file(c"vmdev-huge", &view.phys, &write_view::<PhysBuffer>);
            dir.read_callback_file(c"vmdev-fault", &view.vmalloc, &write_view::<VmallocBuffer>);
            dir.read_callback_file(c"vmdev-folio", &view.folios, &write_view::<FolioBuffer>);
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
