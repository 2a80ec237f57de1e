// SPDX-License-Identifier: GPL-2.0

//! Character devices: a misc-device registration with the file operations a memory device needs.
//!
//! Modelled on 7.3's `kernel::miscdevice`, with the same driver-facing shape: a `#[vtable]` trait
//! [`MiscDevice`] whose methods become a `const`-built `struct file_operations` (with `owner` set
//! to the implementing module), and a pin-initialised [`MiscDeviceRegistration`] that deregisters
//! when dropped. What it adds is what a patch to upstream `MiscDevice` would add:
//!
//! - **`llseek`** ([`MiscDevice::llseek`], and [`fixed_size_llseek`] for memory of a fixed size,
//!   which takes the [`SeekingFile`] only `llseek` gets, so no other hook can move `f_pos`).
//!   Upstream's table has none, so `lseek()` on a Rust misc device gets `ESPIPE`, and asking a
//!   node its size the usual way (`lseek(fd, 0, SEEK_END)`) fails where the kernel's own memory
//!   devices (`/dev/mem`) answer. Android's Rust ashmem driver (2024) was written against a
//!   `MiscDevice` that had gained `llseek` for the same reason.
//! - **The node's permissions** ([`MiscDeviceOptions::mode`], a [`NodeMode`], which can only hold
//!   read and write bits). Upstream leaves `miscdevice.mode` at 0, which devtmpfs creates as 0600:
//!   root only, with no way to change it at load.
//! - **Registration data** ([`MiscDevice::RegistrationData`]), kept in the registration and handed
//!   to `open`, so that a driver finds its device without a global (upstream's sample keeps a
//!   lock-protected `static` that needs `unsafe` to initialise).
//! - **`mmap_prepare`** ([`MiscDevice::mmap_prepare`], with a [`VmaDesc`]): the hook 7.3
//!   moves drivers to (`/dev/mem` and `/dev/zero` use it), where the driver describes the
//!   mapping and the core creates it. A file's operations may have `mmap` or `mmap_prepare`,
//!   not both, so [`MiscDeviceOptions::hook`] picks which one a registration uses: a driver
//!   may implement both and let its user choose, as this one does (module parameter).
//! - **`mmap` gets a [`MmapVma`], not a `&VmaNew`, and returns a [`Backed`]**: `VmaNew`'s safe
//!   `set_mixedmap()` would let a driver make a VMA both `VM_PFNMAP` and `VM_MIXEDMAP`, and the
//!   `Backed` installs the VMA's operations only once `mmap` succeeds (see `vma_ops`).
//! - **`get_unmapped_area`** ([`MiscDevice::get_unmapped_area`], a [`Placement`] policy rather
//!   than an address, which could put a mapping over another): where a new mapping goes, so
//!   that a driver can align it for huge page-table entries as the kernel's own
//!   huge-page-capable files do.
//!
//! The names are upstream's where the thing is the same (`MiscDevice`, `MiscDeviceOptions`,
//! `MiscDeviceRegistration`, `MiscdeviceVTable`, the trampolines), so the two files diff
//! cleanly. What upstream has and this file leaves out, because this driver does not use it (each
//! comes back as upstream's code unchanged):
//!
//! - `MiscDevice::compat_ioctl`, a separate 32-bit entry point: this file always installs
//!   `compat_ptr_ioctl()`, which is right for an ioctl whose argument is a pointer.
//! - `MiscDevice::show_fdinfo`, lines for `/proc/<pid>/fdinfo/<fd>`.
//! - `MiscDeviceRegistration::as_raw()` and `device()`, the raw `struct miscdevice` and its
//!   `struct device` (for `dev_*!` logging; this driver logs once, at load, with `pr_*!`).

use crate::vma_ops::{Backed, MmapVma, Prepared, VmaDesc};
use core::marker::PhantomData;
use kernel::{
    bindings,
    error::{to_result, VTABLE_DEFAULT_ERROR},
    fs::{File, Kiocb, LocalFile},
    iov::{IovIterDest, IovIterSource},
    module::this_module,
    prelude::*,
    types::{ForeignOwnable, Opaque},
};

/// The permissions of a device node: read and write bits for its owner, group and others.
///
/// # Invariants
///
/// The value is non-zero and has no bit outside `0o666`.
#[derive(Clone, Copy)]
pub(crate) struct NodeMode(u16);

impl NodeMode {
    /// The permissions `mode`; `EINVAL` if it has bits outside `0o666` (execute, set-id, sticky
    /// and file-type bits mean nothing on a device node) or is 0 (which the misc core would
    /// silently turn into 0600).
    pub(crate) fn new(mode: u32) -> Result<Self> {
        if mode == 0 || mode & !0o666 != 0 {
            return Err(EINVAL);
        }
        // INVARIANT: Checked just above; the value fits in 16 bits.
        Ok(Self(mode as u16))
    }
}

/// Options for creating a misc device.
#[derive(Clone, Copy)]
pub(crate) struct MiscDeviceOptions {
    /// The name of the node under `/dev`.
    pub(crate) name: &'static CStr,
    /// The permissions of the node.
    pub(crate) mode: NodeMode,
    /// The hook through which the node's files are mapped.
    pub(crate) hook: MmapHook,
}

/// Which of its mapping hooks a [`MiscDevice`] registers: the core refuses a file whose
/// operations have both (`file_has_valid_mmap_hooks()`).
#[derive(Clone, Copy)]
pub(crate) enum MmapHook {
    /// `f_op->mmap_prepare`, [`MiscDevice::mmap_prepare`].
    MmapPrepare,
    /// `f_op->mmap`, [`MiscDevice::mmap`], which 7.3 deprecates.
    Mmap,
}

impl MmapHook {
    /// Whether `T` implements this hook.
    const fn implemented_by<T: MiscDevice>(self) -> bool {
        match self {
            Self::MmapPrepare => T::HAS_MMAP_PREPARE,
            Self::Mmap => T::HAS_MMAP,
        }
    }
}

impl MiscDeviceOptions {
    /// A raw `struct miscdevice` ready for registration, with `T`'s file operations; `EINVAL` if
    /// `T` does not implement the hook the options ask for.
    fn into_raw<T: MiscDevice>(self) -> Result<bindings::miscdevice> {
        if !self.hook.implemented_by::<T>() {
            return Err(EINVAL);
        }
        let mut result: bindings::miscdevice = pin_init::zeroed();
        result.minor = bindings::MISC_DYNAMIC_MINOR as c_int;
        result.name = self.name.as_char_ptr();
        result.mode = self.mode.0;
        result.fops = match self.hook {
            MmapHook::MmapPrepare => &MiscdeviceVTable::<T>::MMAP_PREPARE,
            MmapHook::Mmap => &MiscdeviceVTable::<T>::MMAP,
        };
        Ok(result)
    }
}

/// A registration of a misc device, with the data its `open` hands out.
///
/// # Invariants
///
/// - `inner` is a `struct miscdevice` made by [`MiscDeviceOptions::into_raw`] for `T` and
///   registered with `misc_register()`; it is deregistered exactly once, in [`Drop`].
/// - `inner` is the first field of this `repr(C)` structure, so a pointer to it is a pointer to
///   the registration.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub(crate) struct MiscDeviceRegistration<T: MiscDevice> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    data: T::RegistrationData,
}

// SAFETY: `misc_deregister()` may be called on any thread, and the data is `Send`.
unsafe impl<T: MiscDevice> Send for MiscDeviceRegistration<T> {}
// SAFETY: `&self` gives access only to the data, which is `Sync`.
unsafe impl<T: MiscDevice> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers a misc device whose `open` can reach `data`.
    pub(crate) fn register(
        opts: MiscDeviceOptions,
        data: T::RegistrationData,
    ) -> impl PinInit<Self, Error> {
        // The fields are initialised in this order: `data` is in place before the node exists,
        // and dropped again if registering fails.
        try_pin_init!(Self {
            data,
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let raw = opts.into_raw::<T>()?;
                // SAFETY: The initializer may write to `slot`.
                unsafe { slot.write(raw) };
                // SAFETY: `slot` holds the options just written. It stays pinned until `drop`
                // deregisters it.
                // INVARIANT: If this returns `Ok(())`, `slot` holds a registered misc device.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
        })
    }

    /// The data given to [`Self::register`].
    pub(crate) fn data(&self) -> &T::RegistrationData {
        &self.data
    }
}

#[pinned_drop]
impl<T: MiscDevice> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: The device is registered (type invariants). After this no new `open` can find
        // it; files already open keep their own references to what `open` gave them.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}

/// The file operations of a misc device, and what each open file holds.
#[vtable]
pub(crate) trait MiscDevice: Sized {
    /// What each open file holds: the file's private data.
    type Ptr: ForeignOwnable + Send + Sync;

    /// What the registration holds for `open`.
    type RegistrationData: Send + Sync;

    /// The node was opened; the returned pointer becomes the file's private data.
    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr>;

    /// The last reference to the file is gone.
    fn release(device: Self::Ptr, _file: &File) {
        drop(device);
    }

    /// `mmap()` through `f_op->mmap`: set up `vma`, which maps the file from `vma.pgoff()` on.
    /// The VMA is backed in one of the ways [`VmaSetup`](crate::vma_ops::VmaSetup) offers, and
    /// the [`Backed`] returned installs its operations once this returns; or the call fails and
    /// the VMA goes away, with nothing installed.
    fn mmap<'a>(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _vma: MmapVma<'a, Self::Ptr>,
    ) -> Result<Backed<'a>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `mmap()` through `f_op->mmap_prepare`: describe the mapping `desc`, which maps the file
    /// from `desc.pgoff()` on, before the core creates it. The mapping is backed in one of the
    /// ways [`VmaSetup`](crate::vma_ops::VmaSetup) offers, and the [`Prepared`] returned; the
    /// core then creates the VMA and
    /// calls [`VmOperations::open`](crate::vma_ops::VmOperations::open) for it. Nothing may be
    /// counted or referenced here: the mapping can still fail after this returns.
    fn mmap_prepare<'a>(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _desc: VmaDesc<'a, Self::Ptr>,
    ) -> Result<Prepared<'a>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `lseek()`: returns the new file position. Without it, `lseek()` gets `ESPIPE`.
    fn llseek(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: SeekingFile<'_>,
        _offset: i64,
        _whence: c_int,
    ) -> Result<i64> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// How the core places a new mapping of `len` bytes from file page `pgoff` on: a policy, not
    /// an address, so that no mapping can be put over another. Without it, [`Placement::Any`].
    fn get_unmapped_area(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _len: usize,
        _pgoff: usize,
    ) -> Placement {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `read()`, `pread()`, `readv()`: from `kiocb`'s position into `iov`.
    fn read_iter(_kiocb: Kiocb<'_, Self::Ptr>, _iov: &mut IovIterDest<'_>) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `write()`, `pwrite()`, `writev()`: from `iov` to `kiocb`'s position.
    fn write_iter(_kiocb: Kiocb<'_, Self::Ptr>, _iov: &mut IovIterSource<'_>) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `ioctl()`. 32-bit callers on a 64-bit kernel get the same through `compat_ptr_ioctl()`.
    fn ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The file an `lseek()` is moving, in [`MiscDevice::llseek`]: the position may be changed
/// only there, where `lseek()` holds the file's position lock (`fdget_pos()`).
///
/// # Invariants
///
/// `file` is the file of an `llseek` call in progress on this thread.
#[derive(Clone, Copy)]
pub(crate) struct SeekingFile<'a> {
    file: &'a LocalFile,
}

/// `lseek()` over `size` bytes, as the kernel's `fixed_size_llseek()`: `SEEK_SET`, `SEEK_CUR`
/// and `SEEK_END` may reach `0..=size`; a position outside that, or any other `whence`, is
/// `EINVAL` and leaves the position unchanged. Returns the new position.
pub(crate) fn fixed_size_llseek(
    file: SeekingFile<'_>,
    offset: i64,
    whence: c_int,
    size: i64,
) -> Result<i64> {
    // SAFETY: `file` is a valid file in an `llseek` of its own file operations (invariants of
    // `SeekingFile`), under `lseek()`'s position lock; the function changes only `f_pos`.
    let pos = unsafe { bindings::fixed_size_llseek(file.file.as_ptr(), offset, whence, size) };
    if pos < 0 {
        // A negative result is an errno, which fits in a `c_int`.
        return Err(Error::from_errno(pos as c_int));
    }
    Ok(pos)
}

/// Where [`MiscDevice::get_unmapped_area`] has the core put a new mapping.
pub(crate) enum Placement {
    /// Wherever the core puts any mapping (`mm_get_unmapped_area()`).
    #[expect(dead_code, reason = "every node of this driver asks for congruence")]
    Any,
    /// At an address congruent to the file offset modulo the PMD size when the mapping spans a
    /// whole aligned PMD range, so that PMD entries can map it (`thp_get_unmapped_area()`, as
    /// the kernel's huge-page-capable files do); without transparent huge pages, as `Any`.
    CongruentToOffset,
}

/// Builds the `struct file_operations` of a [`MiscDevice`] implementation.
struct MiscdeviceVTable<T>(PhantomData<T>);

impl<T: MiscDevice> MiscdeviceVTable<T> {
    /// The table with `f_op->mmap_prepare`.
    const MMAP_PREPARE: bindings::file_operations = Self::with_hook(MmapHook::MmapPrepare);
    /// The table with `f_op->mmap`.
    const MMAP: bindings::file_operations = Self::with_hook(MmapHook::Mmap);

    /// The table with the mapping hook `hook`, a constant promoted to a static in this module's
    /// memory. Its `owner` is the module of `T`: `misc_open()` takes a reference on it for every
    /// open file, and each VMA holds its file, so the module (this table, the callbacks, the
    /// `vm_operations_struct`s of `vma_ops`) stays loaded while any file or mapping of the
    /// device exists.
    const fn with_hook(hook: MmapHook) -> bindings::file_operations {
        let (prepare, mmap) = match hook {
            MmapHook::MmapPrepare => (T::HAS_MMAP_PREPARE, false),
            MmapHook::Mmap => (false, T::HAS_MMAP),
        };
        bindings::file_operations {
            owner: this_module::<T::OwnerModule>().as_ptr(),
            open: Some(Self::open),
            release: Some(Self::release),
            mmap_prepare: if prepare {
                Some(Self::mmap_prepare)
            } else {
                None
            },
            mmap: if mmap { Some(Self::mmap) } else { None },
            llseek: if T::HAS_LLSEEK {
                Some(Self::llseek)
            } else {
                None
            },
            get_unmapped_area: if T::HAS_GET_UNMAPPED_AREA {
                Some(Self::get_unmapped_area)
            } else {
                None
            },
            read_iter: if T::HAS_READ_ITER {
                Some(Self::read_iter)
            } else {
                None
            },
            write_iter: if T::HAS_WRITE_ITER {
                Some(Self::write_iter)
            } else {
                None
            },
            unlocked_ioctl: if T::HAS_IOCTL {
                Some(Self::ioctl)
            } else {
                None
            },
            #[cfg(CONFIG_COMPAT)]
            compat_ioctl: if T::HAS_IOCTL {
                bindings::compat_ptr_ioctl
            } else {
                None
            },
            ..pin_init::zeroed()
        }
    }

    /// # Safety
    ///
    /// `inode` and `raw_file` must be the inode and file of an `open()` of a node registered by a
    /// [`MiscDeviceRegistration<T>`], called by `misc_open()`.
    unsafe extern "C" fn open(inode: *mut bindings::inode, raw_file: *mut bindings::file) -> c_int {
        // SAFETY: The pointers are valid and for a file being opened.
        let ret = unsafe { bindings::generic_file_open(inode, raw_file) };
        if ret != 0 {
            return ret;
        }
        // SAFETY: `misc_open()` set the private data to the registered `struct miscdevice`, the
        // first field of a `MiscDeviceRegistration<T>` (its invariants), and holds `misc_mtx`
        // during this call, so that the registration cannot be deregistered and freed meanwhile.
        let misc = unsafe { &*(*raw_file).private_data.cast::<MiscDeviceRegistration<T>>() };
        // SAFETY: The file is valid for the duration of this call, and no `fdget_pos` can be
        // active on a file that is still being opened.
        let file = unsafe { File::from_raw_file(raw_file) };
        match T::open(file, misc) {
            Ok(ptr) => {
                // The private data changes type: from here on, every callback of this table
                // reads it as a `T::Ptr`.
                // SAFETY: The open call of a file may set its private data.
                unsafe { (*raw_file).private_data = ptr.into_foreign() };
                0
            }
            Err(err) => err.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `file` must be a file opened through [`Self::open`], being released.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: The release call owns the private data, set by `open` with `into_foreign`.
        let ptr = unsafe { <T::Ptr as ForeignOwnable>::from_foreign((*file).private_data) };
        // SAFETY: The file is valid for the duration of this call, and no `fdget_pos` can be
        // active on a file that is being released.
        T::release(ptr, unsafe { File::from_raw_file(file) });
        0
    }

    /// # Safety
    ///
    /// `file` must be a file opened through [`Self::open`] and `vma` a VMA that `mmap()` is
    /// setting up for it.
    unsafe extern "C" fn mmap(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: `mmap` runs between `open` and `release`, so the private data is a `T::Ptr`.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow((*file).private_data) };
        // SAFETY: The file is valid for the duration of this call, and `mmap()` uses no
        // `fdget_pos`.
        let file = unsafe { File::from_raw_file(file) };
        // SAFETY: The VMA is being set up by `mmap()` of `file`, whose private data is a
        // `T::Ptr` while it is open (it was set by `open`), and the driver gets no other access
        // to the VMA than this object.
        let vma = unsafe { MmapVma::<T::Ptr>::from_raw(vma, file) };
        match T::mmap(device, file, vma) {
            // SAFETY: This is the trampoline, with what the driver's `mmap` returned, and it
            // returns what `install` returns to the core.
            Ok(backed) => match unsafe { backed.install() } {
                Ok(()) => 0,
                Err(err) => err.to_errno(),
            },
            Err(err) => err.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `desc` must describe a mapping of a file opened through [`Self::open`], in the core's
    /// call of `f_op->mmap_prepare`.
    unsafe extern "C" fn mmap_prepare(desc: *mut bindings::vm_area_desc) -> c_int {
        // SAFETY: `mmap_prepare` runs between `open` and `release` of the file it maps, so the
        // private data is a `T::Ptr`.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow((*(*desc).file).private_data) };
        // SAFETY: The descriptor is the one of this call, of a file whose private data is a
        // `T::Ptr` while it is open, and the driver gets no other access to it than this object.
        let desc = unsafe { VmaDesc::<T::Ptr>::from_raw(desc) };
        match T::mmap_prepare(device, desc) {
            Ok(_prepared) => 0,
            Err(err) => err.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `file` must be a file opened through [`Self::open`], called by `vfs_llseek()`.
    unsafe extern "C" fn llseek(file: *mut bindings::file, offset: i64, whence: c_int) -> i64 {
        // SAFETY: `llseek` runs between `open` and `release`, so the private data is a `T::Ptr`.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow((*file).private_data) };
        // SAFETY: The file is valid for the duration of this call. `lseek()` calls this inside
        // its own `fdget_pos()`, on this thread; the `LocalFile` cannot leave the thread.
        let file = unsafe { LocalFile::from_raw_file(file) };
        // INVARIANT: This is the file's `llseek`, in progress on this thread.
        match T::llseek(device, SeekingFile { file }, offset, whence) {
            Ok(pos) => pos,
            Err(err) => err.to_errno().into(),
        }
    }

    /// # Safety
    ///
    /// `file` must be a file opened through [`Self::open`], called by `mmap()` with the mmap lock
    /// held.
    unsafe extern "C" fn get_unmapped_area(
        file: *mut bindings::file,
        addr: c_ulong,
        len: c_ulong,
        pgoff: c_ulong,
        flags: c_ulong,
    ) -> c_ulong {
        // SAFETY: The call runs between `open` and `release`, so the private data is a `T::Ptr`.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow((*file).private_data) };
        // SAFETY: The file is valid for the duration of this call, and `mmap()` uses no
        // `fdget_pos`.
        let file = unsafe { File::from_raw_file(file) };
        let placement = T::get_unmapped_area(device, file, len, pgoff);
        let file = file.as_ptr();
        match placement {
            #[cfg(CONFIG_TRANSPARENT_HUGEPAGE)]
            // SAFETY: The core calls this with the mmap lock held, for the current process's
            // address space, which is what the function searches; `file` is valid.
            Placement::CongruentToOffset => unsafe {
                bindings::thp_get_unmapped_area(file, addr, len, pgoff, flags)
            },
            // SAFETY: As above.
            _ => unsafe { bindings::mm_get_unmapped_area(file, addr, len, pgoff, flags) },
        }
    }

    /// # Safety
    ///
    /// `kiocb` must be for a file opened through [`Self::open`], and `iter` a valid `struct
    /// iov_iter` to write to.
    unsafe extern "C" fn read_iter(
        kiocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: The caller provides a valid `struct kiocb` of a file whose private data is a
        // `T::Ptr`.
        let kiocb = unsafe { Kiocb::from_raw(kiocb) };
        // SAFETY: This is a valid `struct iov_iter` for writing.
        let iov = unsafe { IovIterDest::from_raw(iter) };
        match T::read_iter(kiocb, iov) {
            Ok(done) => done as isize,
            Err(err) => err.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// `kiocb` must be for a file opened through [`Self::open`], and `iter` a valid `struct
    /// iov_iter` to read from.
    unsafe extern "C" fn write_iter(
        kiocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: The caller provides a valid `struct kiocb` of a file whose private data is a
        // `T::Ptr`.
        let kiocb = unsafe { Kiocb::from_raw(kiocb) };
        // SAFETY: This is a valid `struct iov_iter` for reading.
        let iov = unsafe { IovIterSource::from_raw(iter) };
        match T::write_iter(kiocb, iov) {
            Ok(done) => done as isize,
            Err(err) => err.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// `file` must be a file opened through [`Self::open`].
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: `ioctl` runs between `open` and `release`, so the private data is a `T::Ptr`.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow((*file).private_data) };
        // SAFETY: The file is valid for the duration of this call, and `ioctl()` uses no
        // `fdget_pos`.
        let file = unsafe { File::from_raw_file(file) };
        match T::ioctl(device, file, cmd, arg) {
            Ok(ret) => ret as c_long,
            Err(err) => err.to_errno() as c_long,
        }
    }
}
