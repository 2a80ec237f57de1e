// SPDX-License-Identifier: GPL-2.0

//! Setting up a VMA in `f_op->mmap()`, the classic hook: [`MmapVma`], which a backing of
//! [`VmaSetup`] turns into a [`Backed`], which maps the frames of a remap and installs the
//! operations once the driver's `mmap()` has returned it.

use super::mapped::FileData;
use super::operations::VmOperations;
use super::vma_ref::VmaRefExt;
use super::vma_setup::{Backing, Hook, VmaSetup};
use core::{ffi::c_void, marker::PhantomData, mem::ManuallyDrop};
use kernel::{
    bindings,
    error::to_result,
    fs::File,
    mm::virt::{vm_flags_t, VmaNew},
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ForeignOwnable,
};

// Out-of-line versions of static inline C functions, from `helpers/vma_ops.c`.
#[expect(
    improper_ctypes,
    reason = "`struct vm_area_struct` holds zero-sized C structs; only pointers to it are passed"
)]
extern "C" {
    fn vmdev_helper_vma_set_flags_unlocked(vma: *mut bindings::vm_area_struct, set: vm_flags_t);
}

/// A VMA being set up by `f_op->mmap()` for a file whose private data is a `P`, before the driver
/// has chosen how it is backed.
///
/// A [`VmaSetup`]: the backing that the driver picks consumes it, so a VMA is set up one way
/// only.
///
/// # Examples
///
/// The `f_op->mmap` of a device whose files hold an `Arc<Device>` (the body of a
/// `MiscDevice::mmap`, say): every check first, then the backing, whose [`Backed`] `mmap`
/// returns.
///
/// ```
/// use kernel::mm::vma_ops::{Backed, MmapVma, VmOperations, VmaSetup};
/// use kernel::page::PAGE_SHIFT;
/// use kernel::sync::{Arc, ArcBorrow};
/// # use kernel::mm::vma_ops::{FaultResult, VmFault};
///
/// struct Device {
///     /// The size of its memory, in pages.
///     pages: usize,
/// }
///
/// /// The operations of its VMAs, with a `fault` handler (see `VmFault`).
/// struct DeviceOps;
/// # #[vtable]
/// # impl VmOperations for DeviceOps {
/// #     type Data = Device;
/// #     fn fault<'a>(_: &'a Device, _: &'a VmFault) -> FaultResult<'a> {
/// #         FaultResult::SigBus
/// #     }
/// # }
///
/// fn mmap<'a>(
///     dev: ArcBorrow<'_, Device>,
///     mut vma: MmapVma<'a, Arc<Device>>,
/// ) -> Result<Backed<'a>> {
///     // The offset and the length are user space's: checked without overflow.
///     let pages = (vma.end() - vma.start()) >> PAGE_SHIFT;
///     let end = vma.pgoff().checked_add(pages).ok_or(EINVAL)?;
///     if end > dev.pages {
///         return Err(EINVAL);
///     }
///     vma.set_dontexpand();
///     // Nothing is installed yet: the `Backed` installs `DeviceOps`, with the VMA's reference
///     // to the device, once `mmap` has returned it.
///     Ok(vma.map_on_fault::<DeviceOps>())
/// }
/// ```
///
/// # Invariants
///
/// `vma` is a VMA being set up in `mmap()` (the [`VmaNew`] invariants) of `file`, whose private
/// data is a `P` (from `into_foreign`) while it is open; nothing but this object sets the VMA's
/// `VM_PFNMAP` or `VM_MIXEDMAP` flags, `vm_ops` or `vm_private_data`.
pub(crate) struct MmapVma<'a, P> {
    vma: &'a VmaNew,
    file: &'a File,
    _file_data: PhantomData<P>,
}

impl<'a, P: ForeignOwnable> MmapVma<'a, P> {
    /// # Safety
    ///
    /// `vma` must be a VMA being set up by `f_op->mmap()` of `file`, whose private data is a `P`
    /// while it is open, valid for `'a`, and the caller must give no other access to the VMA
    /// than the returned object (no `&VmaNew` in particular).
    pub(crate) unsafe fn from_raw(vma: *mut bindings::vm_area_struct, file: &'a File) -> Self {
        // INVARIANT: The caller hands over the only access to a VMA being set up of `file`.
        Self {
            // SAFETY: The caller guarantees that the VMA is being set up and valid for 'a.
            vma: unsafe { VmaNew::from_raw(vma) },
            file,
            _file_data: PhantomData,
        }
    }
}

/// A VMA that [`MmapVma`] backed, waiting for the driver's `mmap()` to return it: then (only
/// then) the frames of [`VmaSetup::remap_pfns`] are mapped, the operations and their reference to
/// the data are installed, and [`VmOperations::open`] is called for it.
///
/// Nothing is mapped before that, so a driver that fails `mmap()` after backing the VMA leaves
/// nothing behind: dropped, this gives the reference back and installs nothing (the core frees a
/// VMA whose `mmap()` failed without calling `close`). Dropping it by mistake is flagged all the
/// same (`#[must_use]`, with the module's `-D warnings`): the mapping would fail.
///
/// # Examples
///
/// A backing that can fail returns a `Result<Backed>`: with `?`, its error fails `mmap()`,
/// and nothing was mapped or installed. (The whole of `mmap`: see [`MmapVma`].)
///
/// ```
/// use kernel::mm::vma_ops::{Backed, MmapVma, VmOperations, VmaSetup};
/// use kernel::sync::Arc;
/// # use kernel::mm::vma_ops::PfnMemory;
/// # struct Frames;
/// # // SAFETY: An example's: nothing maps it.
/// # unsafe impl PfnMemory for Frames {
/// #     fn first_pfn(&self) -> usize { 0 }
/// #     fn page_count(&self) -> usize { 0 }
/// #     fn read_into(&self, _: usize, _: &mut [u8]) -> usize { 0 }
/// #     fn write_from(&self, _: usize, _: &[u8]) -> usize { 0 }
/// # }
/// # struct Device { mem: Frames }
/// # impl AsRef<Frames> for Device {
/// #     fn as_ref(&self) -> &Frames { &self.mem }
/// # }
/// # struct RemapOps;
/// # #[vtable]
/// # impl VmOperations for RemapOps {
/// #     type Data = Device;
/// # }
///
/// fn mmap<'a>(vma: MmapVma<'a, Arc<Device>>) -> Result<Backed<'a>> {
///     // The frames are mapped only once this returns the `Backed`, holding the device.
///     let backed = vma.remap_pfns::<RemapOps, Frames>()?;
///     Ok(backed)
/// }
/// ```
///
/// # Invariants
///
/// `vma` is a VMA being set up in `mmap()`; `ops` is a table built for some
/// `T: VmOperations`, `data` a pointer from `into_foreign` of an `Arc<T::Data>` that this
/// object owns, and `open` and `release` are `open_data::<T>` and `release_data::<T>`.
/// `remap_pfn`, if any, is the first of the frames, one per page of the VMA, of the memory
/// that `data` owns (`PfnMemory`), at the VMA's `vm_pgoff`; the VMA is then not `VM_MIXEDMAP`
/// and not copy-on-write.
#[must_use = "return it from mmap(): dropped, it installs nothing and the mapping fails"]
pub(crate) struct Backed<'a> {
    vma: &'a VmaNew,
    ops: &'static bindings::vm_operations_struct,
    data: *mut c_void,
    remap_pfn: Option<usize>,
    open: unsafe fn(*mut c_void),
    release: unsafe fn(*mut c_void),
}

impl Backed<'_> {
    /// Maps the frames of a remap, installs the operations and the reference to the data in the
    /// VMA, and calls [`VmOperations::open`] for it: the VMA is now mapped, and its `close` will
    /// give the reference back. On an error (`remap_pfn_range()` could not allocate a page
    /// table), nothing is mapped (`remap_pfn_range()` zaps what it mapped before it fails) or
    /// installed, and the reference is given back.
    ///
    /// # Safety
    ///
    /// Only `f_op->mmap`'s trampoline may call it, with the `Backed` that the driver's `mmap`
    /// returned, and must then return what this returns to the core, running no driver code in
    /// between: a VMA whose `mmap()` fails is freed without `close`, which would leak the
    /// reference, and a frame mapped here must stay owned by the VMA.
    pub(crate) unsafe fn install(self) -> Result {
        if let Some(pfn) = self.remap_pfn {
            let vma = self.vma;
            // SAFETY: The VMA is being set up in `mmap()` with the mmap lock held for writing, and
            // it is not `VM_MIXEDMAP` nor copy-on-write (invariants). The range is exactly the
            // VMA, and the frames from `pfn` on, one per page of the VMA, belong to `data`
            // (invariants); the entries are special (`VM_PFNMAP`), so the core takes no
            // reference on their pages. On success the VMA owns the reference to `data` from
            // here on (installed below, with no driver code in between), so the memory outlives
            // the entries; on failure `remap_pfn_range()` has zapped its partial remap, and the
            // reference is dropped with `self` after that.
            to_result(unsafe {
                bindings::remap_pfn_range(
                    vma.as_ptr(),
                    vma.start() as c_ulong,
                    pfn as c_ulong,
                    vma.end() - vma.start(),
                    (*vma.as_ptr()).vm_page_prot,
                )
            })?;
        }
        let this = ManuallyDrop::new(self);
        // SAFETY: `data` is an `Arc<T::Data>` pointer of the `T` that `open` is for
        // (invariants), alive: this object owns its reference.
        unsafe { (this.open)(this.data) };
        // SAFETY: The VMA is being set up in `mmap()` (invariants), so it is not yet visible to
        // anyone else. `ops` is a table for `T`, valid while the VMA lives (see `Callbacks`);
        // the private data carries the reference that `close` gives back, as `Callbacks`
        // expects. The reference moves from this object (not dropped) to the VMA.
        unsafe {
            let vma = this.vma.as_ptr();
            (*vma).vm_private_data = this.data;
            (*vma).vm_ops = this.ops;
        }
        Ok(())
    }
}

impl Drop for Backed<'_> {
    fn drop(&mut self) {
        // SAFETY: This object owns the reference (invariants), and gives it up once, here.
        unsafe { (self.release)(self.data) };
    }
}

/// [`VmOperations::open`] of `T` for the VMA [`Backed`] installs.
///
/// # Safety
///
/// `data` must come from `into_foreign` of an `Arc<T::Data>` whose reference is held.
unsafe fn open_data<T: VmOperations>(data: *mut c_void) {
    // SAFETY: The caller guarantees that `data` is a live `Arc<T::Data>` in its foreign form.
    let data = unsafe { <Arc<T::Data> as ForeignOwnable>::borrow(data) };
    T::open(&data);
}

/// Gives back the reference of a [`Backed`] that was never installed.
///
/// # Safety
///
/// `data` must come from `into_foreign` of an `Arc<T::Data>`, whose reference the caller owns
/// and gives up.
unsafe fn release_data<T: VmOperations>(data: *mut c_void) {
    // SAFETY: The caller gives up a reference from `into_foreign` of this type.
    drop(unsafe { Arc::<T::Data>::from_foreign(data) });
}

impl<'a, P: ForeignOwnable> Hook<P> for MmapVma<'a, P> {
    type Backed = Backed<'a>;

    fn file_data<D>(&self) -> ArcBorrow<'_, D>
    where
        P: FileData<D>,
    {
        // SAFETY: The file is open during `mmap()`, and its private data is a `P` (invariants).
        P::vma_data(unsafe { P::borrow((*self.file.as_ptr()).private_data) })
    }

    /// Sets the backing's flags and returns the [`Backed`] that remaps the VMA, if the backing
    /// says so, and installs its operations with a reference to the data, taken from the file
    /// now, when `mmap()` returns it.
    fn back<T: VmOperations>(self, backing: Backing) -> Backed<'a>
    where
        P: FileData<T::Data>,
    {
        if backing.set != 0 {
            // SAFETY: The VMA is being set up, not in the VMA tree yet and not shared
            // (invariants), so it needs no lock. The flags are one backing's (`Backing`
            // invariants), set on a VMA nothing else set `VM_PFNMAP` or `VM_MIXEDMAP` on (this
            // object is consumed): never both, and `VM_PFNMAP` only where not copy-on-write.
            unsafe { vmdev_helper_vma_set_flags_unlocked(self.vma.as_ptr(), backing.set) };
        }
        let data: Arc<T::Data> = self.file_data::<T::Data>().into();
        // INVARIANT: `mmap_ops` is a table for `T` (`Backing` invariants), `data` an
        // `Arc<T::Data>` turned into a pointer, and `open` and `release` the functions for `T`;
        // the VMA is being set up, and a `remap_pfn` was checked against `data`'s memory.
        Backed {
            vma: self.vma,
            ops: backing.mmap_ops,
            data: data.into_foreign(),
            remap_pfn: backing.remap_pfn,
            open: open_data::<T>,
            release: release_data::<T>,
        }
    }
}

impl<P: ForeignOwnable> VmaSetup<P> for MmapVma<'_, P> {
    fn start(&self) -> usize {
        self.vma.start()
    }

    fn end(&self) -> usize {
        self.vma.end()
    }

    fn pgoff(&self) -> usize {
        VmaRefExt::pgoff(&**self.vma)
    }

    fn flags(&self) -> vm_flags_t {
        self.vma.flags()
    }

    fn try_clear_maywrite(&mut self) -> Result {
        self.vma.try_clear_maywrite()
    }

    fn set_dontexpand(&mut self) {
        self.vma.set_dontexpand()
    }

    fn set_dontdump(&mut self) {
        self.vma.set_dontdump()
    }
}
