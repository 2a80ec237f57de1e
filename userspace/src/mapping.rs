//! A mapping of a device node, unmapped on drop, accessed with volatile loads and stores
//! (the memory is shared with the kernel and other processes).

use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::NonNull;

use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};

/// The page size of the machine.
pub fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(4096)
}

/// Minor page faults this process has taken so far.
pub fn minor_faults() -> Result<i64, String> {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF);
    Ok(usage.map_err(|e| e.to_string())?.minor_page_faults())
}

/// The kernel's fault-around window in bytes, for every mapping on the machine (debugfs); one
/// page turns fault-around off.
pub const FAULT_AROUND_BYTES: &str = "/sys/kernel/debug/fault_around_bytes";

/// Sets the kernel's fault-around window to `bytes`; returns the previous setting.
pub fn set_fault_around_bytes(bytes: usize) -> Result<String, String> {
    let err = |e: std::io::Error| format!("{FAULT_AROUND_BYTES}: {e}");
    let old = std::fs::read_to_string(FAULT_AROUND_BYTES).map_err(err)?;
    std::fs::write(FAULT_AROUND_BYTES, bytes.to_string()).map_err(err)?;
    Ok(old.trim().to_string())
}

/// `len` bytes of a file mapped at `ptr`.
pub struct Mapping {
    ptr: NonNull<c_void>,
    len: usize,
}

// SAFETY: The mapping is plain shared memory, only touched through volatile loads and stores;
// which thread does so does not matter (other processes touch it too).
unsafe impl Send for Mapping {}
// SAFETY: See `Send`: `&Mapping` only allows volatile loads and stores.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `mmap(NULL, len, prot, flags, fd, offset)`.
    pub fn new(
        fd: impl AsFd,
        len: usize,
        prot: ProtFlags,
        flags: MapFlags,
        offset: i64,
    ) -> nix::Result<Self> {
        let nz = NonZeroUsize::new(len).ok_or(nix::errno::Errno::EINVAL)?;
        // SAFETY: Mapping a file at an address the kernel chooses affects no existing memory.
        let ptr = unsafe { mmap(None, nz, prot, flags, fd, offset) }?;
        Ok(Self { ptr, len })
    }

    /// A shared read-write mapping.
    pub fn shared(fd: impl AsFd, len: usize, offset: i64) -> nix::Result<Self> {
        Self::new(
            fd,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            offset,
        )
    }

    /// Takes over a mapping made by other means (e.g. `mremap`), to unmap it on drop.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be a mapping that nothing else unmaps.
    pub unsafe fn from_raw(ptr: NonNull<c_void>, len: usize) -> Self {
        Self { ptr, len }
    }

    /// Gives up the mapping without unmapping it.
    pub fn into_raw(self) -> (NonNull<c_void>, usize) {
        let parts = (self.ptr, self.len);
        std::mem::forget(self);
        parts
    }

    /// The first address.
    pub fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: `mmap` refuses length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A pointer to byte `offset`; panics (in the test child) when out of range.
    fn byte(&self, offset: usize) -> *mut u8 {
        assert!(
            offset < self.len,
            "offset {offset} outside a {}-byte mapping",
            self.len
        );
        // SAFETY: In bounds, checked above.
        unsafe { self.ptr.as_ptr().cast::<u8>().add(offset) }
    }

    /// Reads byte `offset` (faults it in if needed).
    pub fn read(&self, offset: usize) -> u8 {
        // SAFETY: The byte is inside the live mapping.
        unsafe { self.byte(offset).read_volatile() }
    }

    /// Writes byte `offset`.
    pub fn write(&self, offset: usize, value: u8) {
        // SAFETY: The byte is inside the live mapping; the test decides whether it is writable.
        unsafe { self.byte(offset).write_volatile(value) }
    }

    /// Copies `len` bytes from `offset` out of the mapping.
    pub fn read_bytes(&self, offset: usize, len: usize) -> Vec<u8> {
        (offset..offset + len).map(|i| self.read(i)).collect()
    }

    /// Copies `data` into the mapping at `offset`.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            self.write(offset + i, b);
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: This object owns the mapping; nothing refers to it after drop.
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}
