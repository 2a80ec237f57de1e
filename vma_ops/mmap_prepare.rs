// SPDX-License-Identifier: GPL-2.0

//! Setting up a mapping in `f_op->mmap_prepare()`: [`VmaDesc`], the description of a VMA that
//! does not exist yet, which a backing of [`VmaSetup`] turns into the [`Prepared`] the hook must
//! return.
//!
//! `mmap_prepare` runs before the core has merged, allocated or inserted anything
//! (Documentation/filesystems/mmap_prepare.rst): the mapping may still fail or be merged
//! after it returns, so it must take no reference and count nothing. What `f_op->mmap` does
//! with the VMA in the driver moves to the core: the core applies the flags, the operations and
//! the action (`remap_pfn_range()` for [`VmaSetup::remap_pfns`]) to the VMA it creates, and then
//! calls `vm_ops->mapped`, where this module takes the VMA's reference to its data (from the
//! file, [`FileData`]) and calls [`VmOperations::open`] (`mapped.rs`).

use super::mapped::FileData;
use super::operations::VmOperations;
use super::vma_setup::{Backing, Hook, VmaSetup};
use core::marker::PhantomData;
use kernel::{
    bindings,
    mm::virt::{flags, vm_flags_t},
    prelude::*,
    sync::ArcBorrow,
    types::ForeignOwnable,
};

// Out-of-line versions of static inline C functions, from `helpers/vma_ops.c`.
#[expect(
    improper_ctypes,
    reason = "`struct vm_area_desc` holds zero-sized C structs; only pointers to it are passed"
)]
extern "C" {
    fn vmdev_helper_mmap_action_remap_full(desc: *mut bindings::vm_area_desc, pfn: c_ulong);
    fn vmdev_helper_vma_desc_flags(desc: *const bindings::vm_area_desc) -> vm_flags_t;
    fn vmdev_helper_vma_desc_set_flags(desc: *mut bindings::vm_area_desc, set: vm_flags_t);
    fn vmdev_helper_vma_desc_clear_flags(desc: *mut bindings::vm_area_desc, clear: vm_flags_t);
}

/// A mapping being set up by `f_op->mmap_prepare()`, before the driver has chosen how it is
/// backed, for a file whose private data is a `P`.
///
/// A [`VmaSetup`]: the backing that the driver picks consumes it, so a VMA is set up one way
/// only.
///
/// # Examples
///
/// The `f_op->mmap_prepare` of a device whose files hold an `Arc<Device>` (the body of a
/// `MiscDevice::mmap_prepare`, say), and that counts the VMAs mapping it:
///
/// ```
/// use kernel::mm::vma_ops::{Prepared, VmOperations, VmaDesc, VmaSetup};
/// use kernel::sync::{
///     atomic::{Atomic, Relaxed},
///     Arc,
/// };
/// # use kernel::mm::vma_ops::PfnMemory;
/// # struct Frames;
/// # // SAFETY: An example's: nothing maps it.
/// # unsafe impl PfnMemory for Frames {
/// #     fn first_pfn(&self) -> usize { 0 }
/// #     fn page_count(&self) -> usize { 0 }
/// #     fn read_into(&self, _: usize, _: &mut [u8]) -> usize { 0 }
/// #     fn write_from(&self, _: usize, _: &[u8]) -> usize { 0 }
/// # }
///
/// struct Device {
///     mem: Frames,
///     live_vmas: Atomic<u64>,
/// }
/// # impl AsRef<Frames> for Device {
/// #     fn as_ref(&self) -> &Frames { &self.mem }
/// # }
///
/// struct DeviceOps;
///
/// #[vtable]
/// impl VmOperations for DeviceOps {
///     type Data = Device;
///
///     // Once the VMA exists (`vm_ops->mapped`), and for each copy of it.
///     fn open(dev: &Self::Data) {
///         dev.live_vmas.add(1, Relaxed);
///     }
///
///     fn close(dev: &Self::Data) {
///         dev.live_vmas.fetch_sub(1, Relaxed);
///     }
/// }
///
/// fn mmap_prepare<'a>(desc: VmaDesc<'a, Arc<Device>>) -> Result<Prepared<'a>> {
///     // Nothing is counted or referenced here: the mapping may still fail, or be merged,
///     // after this returns. The core remaps the frames once it has made the VMA.
///     desc.remap_pfns::<DeviceOps, Frames>()
/// }
/// ```
///
/// # Invariants
///
/// `desc` is the `struct vm_area_desc` of an `mmap_prepare` call in progress, for a file whose
/// private data is a `P` (from `into_foreign`) while the file is open; nothing but this object
/// writes its flags, `vm_ops`, `private_data` or `action` during the call.
pub(crate) struct VmaDesc<'a, P> {
    desc: &'a mut bindings::vm_area_desc,
    _file_data: PhantomData<P>,
}

impl<'a, P: ForeignOwnable> VmaDesc<'a, P> {
    /// # Safety
    ///
    /// `desc` must be the descriptor of an `mmap_prepare` call in progress, valid for `'a`, of a
    /// file whose private data is a `P` while it is open, and the caller must give no other
    /// access to it than the returned object.
    pub(crate) unsafe fn from_raw(desc: *mut bindings::vm_area_desc) -> Self {
        // INVARIANT: The caller hands over the only access to the descriptor of the call.
        Self {
            // SAFETY: The caller guarantees that `desc` is valid and exclusive for 'a.
            desc: unsafe { &mut *desc },
            _file_data: PhantomData,
        }
    }

    /// Sets the `VM_*` flags `set` in the descriptor's flag bitmap.
    fn set(&mut self, set: vm_flags_t) {
        // SAFETY: `desc` is this call's descriptor, which only this object writes (invariants).
        unsafe { vmdev_helper_vma_desc_set_flags(self.desc, set) };
    }
}

impl<'a, P: ForeignOwnable> Hook<P> for VmaDesc<'a, P> {
    type Backed = Prepared<'a>;

    fn file_data<D>(&self) -> ArcBorrow<'_, D>
    where
        P: FileData<D>,
    {
        // SAFETY: The file is open during `mmap_prepare`, and its private data is a `P`
        // (invariants).
        P::vma_data(unsafe { P::borrow((*self.desc.file).private_data) })
    }

    /// Writes the backing into the descriptor: its flags, its action (`remap_pfn_range()` once
    /// the VMA exists, for a remap), and operations whose `mapped` takes the VMA's reference to
    /// the data: until then the private data is null.
    fn back<T: VmOperations>(mut self, backing: Backing) -> Prepared<'a>
    where
        P: FileData<T::Data>,
    {
        self.set(backing.set);
        if let Some(pfn) = backing.remap_pfn {
            // SAFETY: `desc` is the descriptor of this `mmap_prepare` call (invariants). The
            // range is exactly the VMA, and the frames from `pfn` on, one per page of the VMA,
            // belong to the file's data (`Backing` invariants), which every VMA keeps alive from
            // `mapped` to `close` and the file keeps alive before: the core remaps only after
            // this hook returns, with the file open. The entries are special (`VM_PFNMAP`), so
            // the core takes no reference on their pages.
            unsafe { vmdev_helper_mmap_action_remap_full(self.desc, pfn as c_ulong) };
        }
        self.desc.vm_ops = backing.prepare_ops;
        self.desc.private_data = core::ptr::null_mut();
        Prepared(PhantomData)
    }
}

impl<P: ForeignOwnable> VmaSetup<P> for VmaDesc<'_, P> {
    fn start(&self) -> usize {
        self.desc.start
    }

    fn end(&self) -> usize {
        self.desc.end
    }

    fn pgoff(&self) -> usize {
        self.desc.pgoff
    }

    fn flags(&self) -> vm_flags_t {
        // SAFETY: `desc` is this call's descriptor, valid for reads (invariants).
        unsafe { vmdev_helper_vma_desc_flags(self.desc) }
    }

    fn try_clear_maywrite(&mut self) -> Result {
        if self.flags() & flags::WRITE != 0 {
            return Err(EINVAL);
        }
        // SAFETY: `desc` is this call's descriptor, which only this object writes (invariants).
        unsafe { vmdev_helper_vma_desc_clear_flags(self.desc, flags::MAYWRITE) };
        Ok(())
    }

    fn set_dontexpand(&mut self) {
        self.set(flags::DONTEXPAND);
    }

    fn set_dontdump(&mut self) {
        self.set(flags::DONTDUMP);
    }
}

/// Proof that a [`VmaDesc`] was backed, which `mmap_prepare` must return: the core applies what
/// the descriptor says once the hook returns.
///
/// Only a backing of [`VmaSetup`] makes one, so `mmap_prepare` cannot succeed without backing
/// the mapping; [`VmaDesc`] shows the whole hook.
pub(crate) struct Prepared<'a>(PhantomData<&'a mut bindings::vm_area_desc>);
