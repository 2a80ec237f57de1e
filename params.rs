// SPDX-License-Identifier: GPL-2.0

//! The module parameters (declared in `rust_vmdev.rs`'s `module!`), checked before anything is
//! allocated or registered, each refusal saying why on the console.

use crate::chardev::{MmapHook, NodeMode};
use crate::memory::{FolioBuffer, PhysBuffer, VmallocBuffer};
use crate::module_parameters;
use crate::vma_ops::{EntrySize, PmdFolio};
use kernel::{
    page::{PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
};

/// The name under which `reserve_mem=SIZE:ALIGN:NAME` reserves the memory of `reserve_mem=1`.
const RESERVE_MEM_NAME: &CStr = c"rust_vmdev";

/// Allocates the remap device's memory from the module parameters, saying why on failure.
pub(crate) fn remap_memory() -> Result<PhysBuffer> {
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
pub(crate) fn fault_memory() -> Result<VmallocBuffer> {
    let size = *module_parameters::fault_size.value_ref();
    VmallocBuffer::new(size).inspect_err(|e| {
        pr_err!(
            "fault_size={size}: refused ({e:?}): it must be a non-zero multiple of {PAGE_SIZE} \
             that vmalloc can give\n"
        );
    })
}

/// Allocates the folio device's memory from the module parameters, saying why on failure.
pub(crate) fn folio_memory() -> Result<FolioBuffer> {
    let size = *module_parameters::folio_size.value_ref();
    FolioBuffer::new(size).inspect_err(|e| {
        pr_err!(
            "folio_size={size}: refused ({e:?}): it must be a non-zero multiple of {} (what one \
             PMD entry maps) that the page allocator has free in blocks of that size\n",
            PmdFolio::SIZE
        );
    })
}

/// The fault node's window, log2 of the pages one fault maps at most, from the `fault_around`
/// and `fault_around_bytes` parameters, saying why on failure. A page table's worth at most: the
/// cap the core puts on its own `fault_around_bytes`.
pub(crate) fn fault_window_order() -> Result<u32> {
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
        bytes.trailing_zeros() - PAGE_SHIFT as u32
    } else {
        0
    })
}

/// The nodes' permissions from the `mode` parameter, saying why on failure.
pub(crate) fn node_mode() -> Result<NodeMode> {
    let mode = *module_parameters::mode.value_ref();
    NodeMode::new(mode).inspect_err(|e| {
        pr_err!(
            "mode={mode:#o}: refused ({e:?}): it must be non-zero and have only read and write \
             bits (at most 0666)\n"
        );
    })
}

/// The nodes' mapping hook, from the `mmap_prepare` parameter.
pub(crate) fn mmap_hook() -> MmapHook {
    if *module_parameters::mmap_prepare.value_ref() {
        MmapHook::MmapPrepare
    } else {
        MmapHook::Mmap
    }
}
