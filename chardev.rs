// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2024 Google LLC.

//! Miscdevice support.
//!
//! C headers: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h).
//!
//! Reference: <https://www.kernel.org/doc/html/latest/driver-api/misc_devices.html>

use crate::vma_ops::{
    Backed,
    MmapVma,
    Prepared,
    VmaDesc, //
};
use core::marker::PhantomData;
use kernel::{
    bindings,
    device::Device,
    error::{
        to_result,
        VTABLE_DEFAULT_ERROR, //
    },
    fs::{
        File,
        Kiocb,
        LocalFile, //
    },
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    module::this_module,
    prelude::*,
    seq_file::SeqFile,
    types::{
        ForeignOwnable,
        Opaque, //
    }, //
};

/// Options for creating a misc device.
#[derive(Copy, Clone)]
pub(crate) struct MiscDeviceOptions {
    /// The name of the miscdevice.
    pub(crate) name: &'static CStr,
    /// The permissions of the device node; `None` leaves them to the core, which makes it 0600.
    pub(crate) mode: Option<NodeMode>,
    /// Which mapping hook the file operations get, if the device implements any.
    pub(crate) hook: MmapHook,
}

impl MiscDeviceOptions {
    /// Options for a misc device called `name`, with the core's default permissions (0600) and
    /// `mmap_prepare` as its mapping hook, the one new drivers should implement.
    pub(crate) const fn new(name: &'static CStr) -> Self {
        Self {
            name,
            mode: None,
            hook: MmapHook::MmapPrepare,
        }
    }

    /// Create a raw `struct miscdev` ready for registration.
    pub(crate) const fn into_raw<T: MiscDevice>(self) -> bindings::miscdevice {
        let mut result: bindings::miscdevice = pin_init::zeroed();
        result.minor = bindings::MISC_DYNAMIC_MINOR as kernel::ffi::c_int;
        result.name = kernel::str::as_char_ptr_in_const_context(self.name);
        if let Some(mode) = self.mode {
            result.mode = mode.0;
        }
        result.fops = MiscdeviceVTable::<T>::build(self.hook);
        result
    }
}

/// The permissions of a device node: read and write bits for its owner, group and others.
///
/// # Invariants
///
/// The value is non-zero and has no bit outside `0o666`.
#[derive(Copy, Clone)]
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

/// Which of its mapping hooks a [`MiscDevice`] registers: the core refuses a file whose
/// operations have both (`file_has_valid_mmap_hooks()`).
#[derive(Copy, Clone)]
pub(crate) enum MmapHook {
    /// `f_op->mmap_prepare`, [`MiscDevice::mmap_prepare`].
    MmapPrepare,
    /// `f_op->mmap`, [`MiscDevice::mmap`], which 7.3 deprecates.
    Mmap,
}

impl MmapHook {
    /// Whether a registration of `T` may ask for this hook: `T` implements it, or no mapping hook
    /// at all (then the choice does not matter, and `mmap()` fails with `ENODEV` either way).
    const fn is_usable_by<T: MiscDevice>(self) -> bool {
        match self {
            Self::MmapPrepare => T::HAS_MMAP_PREPARE || !T::HAS_MMAP,
            Self::Mmap => T::HAS_MMAP || !T::HAS_MMAP_PREPARE,
        }
    }
}

/// A registration of a miscdevice.
///
/// # Invariants
///
/// - `inner` contains a `struct miscdevice` that is registered using
///   `misc_register()`.
/// - This registration remains valid for the entire lifetime of the
///   [`MiscDeviceRegistration`] instance.
/// - Deregistration occurs exactly once in [`Drop`] via `misc_deregister()`.
/// - `inner` wraps a valid, pinned `miscdevice` created using
///   [`MiscDeviceOptions::into_raw`].
/// - `inner` is the first field of this `#[repr(C)]` struct, so a pointer to it is a pointer to
///   the [`MiscDeviceRegistration`].
#[repr(C)]
#[pin_data(PinnedDrop)]
pub(crate) struct MiscDeviceRegistration<T: MiscDevice> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    data: T::RegistrationData,
}

// SAFETY: It is allowed to call `misc_deregister` on a different thread from where you called
// `misc_register`, and `T::RegistrationData` is `Send`.
unsafe impl<T: MiscDevice> Send for MiscDeviceRegistration<T> {}
// SAFETY: All `&self` methods on this type are written to ensure that it is safe to call them in
// parallel, and `T::RegistrationData` is `Sync`.
unsafe impl<T: MiscDevice> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Register a misc device.
    ///
    /// Its [`MiscDevice::open`] can reach `data` through [`Self::data`]. Fails with `EINVAL` if
    /// `T` implements a mapping hook but not the one `opts` asks for.
    pub(crate) fn register(
        opts: MiscDeviceOptions,
        data: T::RegistrationData,
    ) -> impl PinInit<Self, Error> {
        // `data` comes first: `open` may read it as soon as `misc_register()` returns.
        try_pin_init!(Self {
            data,
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                if !opts.hook.is_usable_by::<T>() {
                    return Err(EINVAL);
                }

                // SAFETY: The initializer can write to the provided `slot`.
                unsafe { slot.write(opts.into_raw::<T>()) };

                // SAFETY: We just wrote the misc device options to the slot. The miscdevice will
                // get unregistered before `slot` is deallocated because the memory is pinned and
                // the destructor of this type deallocates the memory.
                // INVARIANT: If this returns `Ok(())`, then the `slot` will contain a registered
                // misc device.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
        })
    }

    /// Returns a raw pointer to the misc device.
    pub(crate) fn as_raw(&self) -> *mut bindings::miscdevice {
        self.inner.get()
    }

    /// Access the `this_device` field.
    pub(crate) fn device(&self) -> &Device {
        // SAFETY: This can only be called after a successful register(), which always
        // initialises `this_device` with a valid device. Furthermore, the signature of this
        // function tells the borrow-checker that the `&Device` reference must not outlive the
        // `&MiscDeviceRegistration<T>` used to obtain it, so the last use of the reference must be
        // before the underlying `struct miscdevice` is destroyed.
        unsafe { Device::from_raw((*self.as_raw()).this_device) }
    }

    /// Access the data given to [`Self::register`].
    pub(crate) fn data(&self) -> &T::RegistrationData {
        &self.data
    }
}

#[pinned_drop]
impl<T: MiscDevice> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: We know that the device is registered by the type invariants.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}

/// Trait implemented by the private data of an open misc device.
#[vtable]
pub(crate) trait MiscDevice: Sized {
    /// What kind of pointer should `Self` be wrapped in.
    type Ptr: ForeignOwnable + Send + Sync;

    /// The data the [`MiscDeviceRegistration`] holds, for [`MiscDevice::open`] to reach through
    /// [`MiscDeviceRegistration::data`]: what a driver would otherwise keep in a global.
    type RegistrationData: Send + Sync;

    /// Called when the misc device is opened.
    ///
    /// The returned pointer will be stored as the private data for the file.
    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr>;

    /// Called when the misc device is released.
    fn release(device: Self::Ptr, _file: &File) {
        drop(device);
    }

    /// Handle for mmap.
    ///
    /// This function is invoked when a user space process invokes the `mmap` system call on
    /// `file`. The function is a callback that is part of the VMA initializer. The kernel will do
    /// initial setup of the VMA before calling this function. The function can then interact with
    /// the VMA initialization by calling methods of `vma`. If the function does not return an
    /// error, the kernel will complete initialization of the VMA according to the properties of
    /// `vma`.
    ///
    /// The VMA is backed in one of the ways [`VmaSetup`](crate::vma_ops::VmaSetup) offers, and
    /// the [`Backed`] returned installs its operations once this returns; on an error, nothing is
    /// installed. Used if [`MiscDeviceOptions::hook`] is [`MmapHook::Mmap`].
    fn mmap<'a>(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _vma: MmapVma<'a, Self::Ptr>,
    ) -> Result<Backed<'a>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handle for mmap, through `f_op->mmap_prepare`.
    ///
    /// Describes the mapping `desc`, which maps the file from `desc.pgoff()` on, before the core
    /// creates it. The mapping is backed in one of the ways
    /// [`VmaSetup`](crate::vma_ops::VmaSetup) offers, and the [`Prepared`] returned; the core
    /// then creates the VMA and calls
    /// [`VmOperations::open`](crate::vma_ops::VmOperations::open) for it. Nothing may be
    /// counted or referenced here: the mapping can still fail after this returns. Used if
    /// [`MiscDeviceOptions::hook`] is [`MmapHook::MmapPrepare`].
    fn mmap_prepare<'a>(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _desc: VmaDesc<'a, Self::Ptr>,
    ) -> Result<Prepared<'a>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handler for `lseek()`: returns the new file position. Without it, `lseek()` fails with
    /// `ESPIPE`.
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

    /// Read from this miscdevice.
    fn read_iter(_kiocb: Kiocb<'_, Self::Ptr>, _iov: &mut IovIterDest<'_>) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Write to this miscdevice.
    fn write_iter(_kiocb: Kiocb<'_, Self::Ptr>, _iov: &mut IovIterSource<'_>) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handler for ioctls.
    ///
    /// The `cmd` argument is usually manipulated using the utilities in [`kernel::ioctl`].
    ///
    /// [`kernel::ioctl`]: mod@kernel::ioctl
    fn ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handler for ioctls.
    ///
    /// Used for 32-bit userspace on 64-bit platforms.
    ///
    /// This method is optional and only needs to be provided if the ioctl relies on structures
    /// that have different layout on 32-bit and 64-bit userspace. If no implementation is
    /// provided, then `compat_ptr_ioctl` will be used instead.
    #[cfg(CONFIG_COMPAT)]
    fn compat_ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Show info for this fd.
    fn show_fdinfo(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _m: &SeqFile,
        _file: &File,
    ) {
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

/// A vtable for the file operations of a Rust miscdevice.
struct MiscdeviceVTable<T: MiscDevice>(PhantomData<T>);

impl<T: MiscDevice> MiscdeviceVTable<T> {
    /// # Safety
    ///
    /// `file` and `inode` must be the file and inode for a file that is undergoing initialization.
    /// The file must be associated with a `MiscDeviceRegistration<T>`.
    unsafe extern "C" fn open(inode: *mut bindings::inode, raw_file: *mut bindings::file) -> c_int {
        // SAFETY: The pointers are valid and for a file being opened.
        let ret = unsafe { bindings::generic_file_open(inode, raw_file) };
        if ret != 0 {
            return ret;
        }

        // SAFETY: The open call of a file can access the private data.
        let misc_ptr = unsafe { (*raw_file).private_data };

        // SAFETY: This is a miscdevice, so `misc_open()` set the private data to a pointer to the
        // associated `struct miscdevice` before calling into this method. Furthermore,
        // `misc_open()` ensures that the miscdevice can't be unregistered and freed during this
        // call to `fops_open`. The `struct miscdevice` is the first field of a
        // `MiscDeviceRegistration<T>`, so this is a pointer to the registration (type invariants).
        let misc = unsafe { &*misc_ptr.cast::<MiscDeviceRegistration<T>>() };

        // SAFETY:
        // * This underlying file is valid for (much longer than) the duration of `T::open`.
        // * There is no active fdget_pos region on the file on this thread.
        let file = unsafe { File::from_raw_file(raw_file) };

        let ptr = match T::open(file, misc) {
            Ok(ptr) => ptr,
            Err(err) => return err.to_errno(),
        };

        // This overwrites the private data with the value specified by the user, changing the type
        // of this file's private data. All future accesses to the private data is performed by
        // other fops_* methods in this file, which all correctly cast the private data to the new
        // type.
        //
        // SAFETY: The open call of a file can access the private data.
        unsafe { (*raw_file).private_data = ptr.into_foreign() };

        0
    }

    /// # Safety
    ///
    /// `file` and `inode` must be the file and inode for a file that is being released. The file
    /// must be associated with a `MiscDeviceRegistration<T>`.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: The release call of a file owns the private data.
        let private = unsafe { (*file).private_data };
        // SAFETY: The release call of a file owns the private data.
        let ptr = unsafe { <T::Ptr as ForeignOwnable>::from_foreign(private) };

        // SAFETY:
        // * The file is valid for the duration of this call.
        // * There is no active fdget_pos region on the file on this thread.
        T::release(ptr, unsafe { File::from_raw_file(file) });

        0
    }

    /// # Safety
    ///
    /// `kiocb` must be correspond to a valid file that is associated with a
    /// `MiscDeviceRegistration<T>`. `iter` must be a valid `struct iov_iter` for writing.
    unsafe extern "C" fn read_iter(
        kiocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: The caller provides a valid `struct kiocb` associated with a
        // `MiscDeviceRegistration<T>` file.
        let kiocb = unsafe { Kiocb::from_raw(kiocb) };
        // SAFETY: This is a valid `struct iov_iter` for writing.
        let iov = unsafe { IovIterDest::from_raw(iter) };

        match T::read_iter(kiocb, iov) {
            Ok(res) => res as isize,
            Err(err) => err.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// `kiocb` must be correspond to a valid file that is associated with a
    /// `MiscDeviceRegistration<T>`. `iter` must be a valid `struct iov_iter` for reading.
    unsafe extern "C" fn write_iter(
        kiocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: The caller provides a valid `struct kiocb` associated with a
        // `MiscDeviceRegistration<T>` file.
        let kiocb = unsafe { Kiocb::from_raw(kiocb) };
        // SAFETY: This is a valid `struct iov_iter` for reading.
        let iov = unsafe { IovIterSource::from_raw(iter) };

        match T::write_iter(kiocb, iov) {
            Ok(res) => res as isize,
            Err(err) => err.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// `file` must be a valid file that is associated with a `MiscDeviceRegistration<T>`.
    /// `vma` must be a vma that is currently being mmap'ed with this file.
    unsafe extern "C" fn mmap(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: The mmap call of a file can access the private data.
        let private = unsafe { (*file).private_data };
        // SAFETY: This is a Rust Miscdevice, so we call `into_foreign` in `open` and
        // `from_foreign` in `release`, and `fops_mmap` is guaranteed to be called between those
        // two operations.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow(private.cast()) };
        // SAFETY:
        // * The file is valid for the duration of this call.
        // * There is no active fdget_pos region on the file on this thread.
        let file = unsafe { File::from_raw_file(file) };
        // SAFETY: The caller provides a vma that is undergoing initial VMA setup by `mmap()` of
        // `file`, whose private data is a `T::Ptr` while it is open, and the driver gets no other
        // access to the vma than this object.
        let area = unsafe { MmapVma::<T::Ptr>::from_raw(vma, file) };

        match T::mmap(device, file, area) {
            // SAFETY: This is the `f_op->mmap` the VMA was backed in, with what `T::mmap`
            // returned, and its result goes back to the core.
            Ok(backed) => match unsafe { backed.install() } {
                Ok(()) => 0,
                Err(err) => err.to_errno(),
            },
            Err(err) => err.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `desc` must describe a mapping of a file that is associated with a
    /// `MiscDeviceRegistration<T>`, in the core's call of `f_op->mmap_prepare`.
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
    /// `file` must be a valid file that is associated with a `MiscDeviceRegistration<T>`, called
    /// by `vfs_llseek()`.
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
    /// `file` must be a valid file that is associated with a `MiscDeviceRegistration<T>`, called
    /// by `mmap()` with the mmap lock held.
    unsafe extern "C" fn get_unmapped_area(
        file: *mut bindings::file,
        addr: c_ulong,
        len: c_ulong,
        pgoff: c_ulong,
        flags: c_ulong,
    ) -> c_ulong {
        // SAFETY: The call runs between `open` and `release`, so the private data is a `T::Ptr`.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow((*file).private_data) };
        // SAFETY:
        // * The file is valid for the duration of this call.
        // * There is no active fdget_pos region on the file on this thread.
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
    /// `file` must be a valid file that is associated with a `MiscDeviceRegistration<T>`.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: The ioctl call of a file can access the private data.
        let private = unsafe { (*file).private_data };
        // SAFETY: Ioctl calls can borrow the private data of the file.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow(private) };

        // SAFETY:
        // * The file is valid for the duration of this call.
        // * There is no active fdget_pos region on the file on this thread.
        let file = unsafe { File::from_raw_file(file) };

        match T::ioctl(device, file, cmd, arg) {
            Ok(ret) => ret as c_long,
            Err(err) => err.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// `file` must be a valid file that is associated with a `MiscDeviceRegistration<T>`.
    #[cfg(CONFIG_COMPAT)]
    unsafe extern "C" fn compat_ioctl(
        file: *mut bindings::file,
        cmd: c_uint,
        arg: c_ulong,
    ) -> c_long {
        // SAFETY: The compat ioctl call of a file can access the private data.
        let private = unsafe { (*file).private_data };
        // SAFETY: Ioctl calls can borrow the private data of the file.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow(private) };

        // SAFETY:
        // * The file is valid for the duration of this call.
        // * There is no active fdget_pos region on the file on this thread.
        let file = unsafe { File::from_raw_file(file) };

        match T::compat_ioctl(device, file, cmd, arg) {
            Ok(ret) => ret as c_long,
            Err(err) => err.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// - `file` must be a valid file that is associated with a `MiscDeviceRegistration<T>`.
    /// - `seq_file` must be a valid `struct seq_file` that we can write to.
    unsafe extern "C" fn show_fdinfo(seq_file: *mut bindings::seq_file, file: *mut bindings::file) {
        // SAFETY: The release call of a file owns the private data.
        let private = unsafe { (*file).private_data };
        // SAFETY: Ioctl calls can borrow the private data of the file.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow(private) };
        // SAFETY:
        // * The file is valid for the duration of this call.
        // * There is no active fdget_pos region on the file on this thread.
        let file = unsafe { File::from_raw_file(file) };
        // SAFETY: The caller ensures that the pointer is valid and exclusive for the duration in
        // which this method is called.
        let m = unsafe { SeqFile::from_raw(seq_file) };

        T::show_fdinfo(device, m, file);
    }

    const VTABLE: bindings::file_operations = bindings::file_operations {
        open: Some(Self::open),
        release: Some(Self::release),
        mmap: if T::HAS_MMAP { Some(Self::mmap) } else { None },
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
        compat_ioctl: if T::HAS_COMPAT_IOCTL {
            Some(Self::compat_ioctl)
        } else if T::HAS_IOCTL {
            bindings::compat_ptr_ioctl
        } else {
            None
        },
        show_fdinfo: if T::HAS_SHOW_FDINFO {
            Some(Self::show_fdinfo)
        } else {
            None
        },
        owner: this_module::<T::OwnerModule>().as_ptr(),
        ..pin_init::zeroed()
    };

    /// The table for [`MmapHook::MmapPrepare`]: [`Self::VTABLE`] with `mmap_prepare` in place
    /// of `mmap`, as the core refuses a file whose operations have both.
    const VTABLE_MMAP_PREPARE: bindings::file_operations = bindings::file_operations {
        mmap: None,
        mmap_prepare: if T::HAS_MMAP_PREPARE {
            Some(Self::mmap_prepare)
        } else {
            None
        },
        ..Self::VTABLE
    };

    const fn build(hook: MmapHook) -> &'static bindings::file_operations {
        match hook {
            MmapHook::Mmap => &Self::VTABLE,
            MmapHook::MmapPrepare => &Self::VTABLE_MMAP_PREPARE,
        }
    }
}
