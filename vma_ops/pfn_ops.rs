// SPDX-License-Identifier: GPL-2.0

//! The operations of a VMA that maps page frames by number ([`PfnOps`]): PFN faults with huge
//! entries, `access` for debuggers, and the ways around the 7.3.4 core's handling of PUD
//! leaves (`may_split`, the `open` of a copy).

use super::operations::{map_nothing, Callbacks, VmOperations};
#[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
use super::pfn_map::pud_span_across;
use super::pfn_map::{access_span, entry_pfn, EntrySize, PfnMemory};
use super::vm_fault::VmFault;
use super::vma_ref::VmaRefExt;
#[cfg(doc)]
use super::VmaSetup;
use core::{ffi::c_void, marker::PhantomData};
use kernel::{
    bindings,
    mm::virt::{flags, VmaRef},
    prelude::*,
};

// Out-of-line versions of static inline C functions, from `helpers/vma_ops.c`.
#[cfg_attr(
    all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)),
    expect(
        improper_ctypes,
        reason = "`struct vm_area_struct` holds zero-sized C structs; only pointers to it are passed"
    )
)]
extern "C" {
    #[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
    fn vmdev_helper_vma_start_write(vma: *mut bindings::vm_area_struct);
    #[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
    fn vmdev_helper_zap_pud_spans_of_sources(copy: *mut bindings::vm_area_struct);
}

/// Builds the `struct vm_operations_struct` of a VMA that maps the frames of the memory `M`
/// that `T::Data` owns: `T`'s `open` and `close`, `access` for debuggers, and for
/// [`VmaSetup::map_pfns_on_fault`] the fault handlers that insert the frames. Valid while any
/// VMA uses it, as every table of [`Callbacks`] is.
pub(super) struct PfnOps<T, M>(PhantomData<(T, M)>);

impl<T: VmOperations, M: PfnMemory> PfnOps<T, M>
where
    T::Data: AsRef<M>,
{
    /// Operations of a VMA mapped whole by [`VmaSetup::remap_pfns`]: a fault there is a `SIGBUS`.
    pub(super) const REMAPPED: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(Callbacks::<T>::open),
        close: Some(Callbacks::<T>::close),
        access: Some(Self::access),
        ..pin_init::zeroed()
    };

    /// Operations of a VMA backed by [`VmaSetup::map_pfns_on_fault`].
    pub(super) const ON_FAULT: bindings::vm_operations_struct = bindings::vm_operations_struct {
        #[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
        open: Some(Self::open),
        #[cfg(not(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed))))]
        open: Some(Callbacks::<T>::open),
        close: Some(Callbacks::<T>::close),
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
        let Some(data) = (unsafe { Callbacks::<T>::data_ref(vma) }) else {
            // A VMA whose setup failed half way (see `Callbacks::data`) maps nothing.
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
        // The core advances by what this returns: never more than it asked for, whatever the
        // memory's copy says (at most a page, so it fits).
        match done.min(len) {
            0 => einval,
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
    /// from (`helpers/vma_ops.c` says why and how), then does what [`Callbacks::open`] does.
    ///
    /// The core's `move_page_tables()` (7.3.4) cannot move a PUD leaf of a PFN map: it clears
    /// it as a bad entry without flushing the TLB, which leaves the old address mapped onto the
    /// memory, and an anonymous mapping placed there later reads and writes the device through
    /// it. `may_split` runs only where a move splits the VMA, and `vm_ops->mremap` only after
    /// the move, so this is the one callback that runs before it.
    ///
    /// # Safety
    ///
    /// As for [`Callbacks::open`]: called by the core, with the copy's mm write-locked.
    #[cfg(all(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP, not(vmdev_core_fixed)))]
    unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
        if EntrySize::Pud.mappable() {
            // SAFETY: The core passes the new VMA, holding its mm's mmap lock for writing.
            unsafe { vmdev_helper_zap_pud_spans_of_sources(vma) };
        }
        // SAFETY: The caller's guarantee.
        unsafe { Callbacks::<T>::open(vma) };
    }

    /// # Safety
    ///
    /// Called by the core for a fault that found no page-table entry, in a VMA with these
    /// operations.
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The core passes a valid `vm_fault` of a VMA with these operations (whose `Data`
        // is `T::Data`, as `Callbacks<T>` expects), read-locked during the call.
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
        let Some(data) = (unsafe { Callbacks::<T>::data_ref(vma.as_ptr()) }) else {
            // A VMA whose setup failed half way (see `Callbacks::data`) maps nothing.
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
