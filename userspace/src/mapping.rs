//! A mapping of a device node, unmapped on drop, accessed with volatile loads and stores
//! (the memory is shared with the kernel and other processes).

use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::NonNull;

use nix::sys::mman::{MapFlags, ProtFlags, mmap, mmap_anonymous, munmap};

/// The page size of the machine. Linux always answers `sysconf(_SC_PAGESIZE)` (from the ELF
/// auxiliary vector), so a failure is a broken libc, not a page size to guess.
pub fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|v| usize::try_from(v).ok())
        .expect("sysconf(_SC_PAGESIZE) answered nothing")
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

    /// `mmap` at an address that is a multiple of `align` (a power of two, at least a page),
    /// e.g. so that a fault's aligned window, or a PMD's span, starts where the mapping does.
    /// Reserves `len + align` bytes, maps the file over the aligned part with `MAP_FIXED`, and
    /// gives the rest back.
    pub fn aligned(
        fd: impl AsFd,
        len: usize,
        prot: ProtFlags,
        flags: MapFlags,
        offset: i64,
        align: usize,
    ) -> nix::Result<Self> {
        Self::placed(fd, len, prot, flags, offset, align, 0)
    }

    /// `mmap` at an address congruent to `offset` modulo `align` (a power of two, at least a
    /// page), as huge page-table entries need: each naturally aligned `align`-sized span of
    /// the file inside the mapping is then mapped at an `align`-aligned address. Reserves as
    /// [`Mapping::aligned`] does.
    pub fn congruent(
        fd: impl AsFd,
        len: usize,
        prot: ProtFlags,
        flags: MapFlags,
        offset: i64,
        align: usize,
    ) -> nix::Result<Self> {
        let phase = usize::try_from(offset).map_err(|_| nix::errno::Errno::EINVAL)?;
        Self::placed(
            fd,
            len,
            prot,
            flags,
            offset,
            align,
            phase & align.wrapping_sub(1),
        )
    }

    /// `mmap` at an address that is `phase` (less than `align`, a power of two) past a multiple
    /// of `align`, whatever the offset: e.g. one page past a PMD span's start for a mapping at
    /// offset 0, where no span of the file lines up with a span of the address space. Reserves
    /// as [`Mapping::aligned`] does.
    pub fn at_phase(
        fd: impl AsFd,
        len: usize,
        prot: ProtFlags,
        flags: MapFlags,
        offset: i64,
        align: usize,
        phase: usize,
    ) -> nix::Result<Self> {
        Self::placed(fd, len, prot, flags, offset, align, phase)
    }

    /// `mmap` at an address that is `phase` past a multiple of `align`.
    ///
    /// The address comes from a reservation of `len + align` bytes, given back before the file
    /// is mapped there with `MAP_FIXED_NOREPLACE`. Mapping over the reservation with `MAP_FIXED`
    /// instead races in a threaded process: when the driver refuses the mapping, 7.3
    /// leaves a gap where the replaced reservation was (`vms_abort_munmap_vmas()` in
    /// `mm/vma.c`), another thread's `mmap` can land in it, and unmapping the reservation then
    /// unmaps that thread's mapping. Here a failed `mmap` leaves nothing behind, and a thread
    /// that took part of the range in between only costs another try.
    fn placed(
        fd: impl AsFd,
        len: usize,
        prot: ProtFlags,
        flags: MapFlags,
        offset: i64,
        align: usize,
        phase: usize,
    ) -> nix::Result<Self> {
        use nix::errno::Errno;
        if !align.is_power_of_two() || phase >= align {
            return Err(Errno::EINVAL);
        }
        let nz = NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
        let span =
            NonZeroUsize::new(len.checked_add(align).ok_or(Errno::ENOMEM)?).ok_or(Errno::EINVAL)?;
        let reserve = MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE;
        let mut tries = 0;
        loop {
            // SAFETY: A new anonymous mapping at an address the kernel picks touches nothing else.
            let base = unsafe { mmap_anonymous(None, span, ProtFlags::PROT_NONE, reserve) }?;
            let start = base.as_ptr() as usize;
            // The first address at or after `start` that is `phase` past a multiple of
            // `align`: less than `align` past `start`, so the mapping fits in the reservation.
            let at = start.saturating_sub(phase).next_multiple_of(align) + phase;
            // SAFETY: The reservation just made, which nothing else uses.
            unsafe { munmap(base, span.get()) }?;
            // SAFETY: `MAP_FIXED_NOREPLACE` maps only where nothing is mapped.
            let res = unsafe {
                mmap(
                    NonZeroUsize::new(at),
                    nz,
                    prot,
                    flags | MapFlags::MAP_FIXED_NOREPLACE,
                    fd.as_fd(),
                    offset,
                )
            };
            tries += 1;
            match res {
                // Another thread mapped something in the range since it was given back.
                Err(Errno::EEXIST) if tries < 16 => continue,
                res => return res.map(|ptr| Self { ptr, len }),
            }
        }
    }

    /// A private read-write mapping of anonymous memory.
    pub fn anonymous(len: usize) -> nix::Result<Self> {
        let nz = NonZeroUsize::new(len).ok_or(nix::errno::Errno::EINVAL)?;
        let flags = MapFlags::MAP_PRIVATE | MapFlags::MAP_ANONYMOUS;
        // SAFETY: A new mapping at an address the kernel picks touches nothing else.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                nz,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                flags,
            )
        }?;
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

    /// A pointer to the 8-byte word at `offset`; panics (in the test child) unless it is inside
    /// the mapping and aligned.
    fn word(&self, offset: usize) -> *mut u64 {
        assert!(
            offset.is_multiple_of(8) && offset + 8 <= self.len,
            "word at {offset} outside a {}-byte mapping, or unaligned",
            self.len
        );
        // SAFETY: In bounds, checked above; aligned, as mappings are page-aligned.
        unsafe { self.ptr.as_ptr().cast::<u8>().add(offset).cast::<u64>() }
    }

    /// Reads the 8-byte word at `offset` (a multiple of 8) in one load.
    pub fn read_u64(&self, offset: usize) -> u64 {
        // SAFETY: The word is inside the live mapping.
        unsafe { self.word(offset).read_volatile() }
    }

    /// Writes the 8-byte word at `offset` (a multiple of 8) in one store.
    pub fn write_u64(&self, offset: usize, value: u64) {
        // SAFETY: The word is inside the live mapping; the test decides whether it is writable.
        unsafe { self.word(offset).write_volatile(value) }
    }

    /// Reads the first `len` bytes through the kernel, as another process would:
    /// `process_vm_readv()` of this process's own mapping, which copies through the pages
    /// `get_user_pages()` pins, not through the page tables. Fewer bytes if the copy stops short.
    pub fn read_through_gup(&self, len: usize) -> nix::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let remote = [nix::sys::uio::RemoteIoVec {
            base: self.addr() as usize,
            len,
        }];
        let n = nix::sys::uio::process_vm_readv(
            nix::unistd::getpid(),
            &mut [std::io::IoSliceMut::new(&mut buf)],
            &remote,
        )?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Copies `len` bytes from `offset` out of the mapping, a word at a time where it can (a
    /// byte at a time is 8 times the loads, which under emulation is most of a test over a
    /// large buffer).
    pub fn read_bytes(&self, offset: usize, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        for (at, word) in words(offset, len) {
            if word {
                out.extend_from_slice(&self.read_u64(at).to_ne_bytes());
            } else {
                out.push(self.read(at));
            }
        }
        out
    }

    /// Copies `data` into the mapping at `offset`, a word at a time where it can.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) {
        for (at, word) in words(offset, data.len()) {
            let i = at - offset;
            if word {
                let mut bytes = [0; 8];
                bytes.copy_from_slice(&data[i..i + 8]);
                self.write_u64(at, u64::from_ne_bytes(bytes));
            } else {
                self.write(at, data[i]);
            }
        }
    }
}

/// The offsets of `[offset, offset + len)` in address order, each with whether an aligned 8-byte
/// word starts there that the range holds whole (`true`: the next 8 bytes) or not (one byte).
fn words(offset: usize, len: usize) -> impl Iterator<Item = (usize, bool)> {
    let end = offset + len;
    let mut at = offset;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let word = at.is_multiple_of(8) && end - at >= 8;
        let here = at;
        at += if word { 8 } else { 1 };
        Some((here, word))
    })
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: This object owns the mapping; nothing refers to it after drop.
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_cover_the_range_once_in_order() {
        let got: Vec<_> = words(5, 20).collect();
        assert_eq!(
            got,
            [
                (5, false),
                (6, false),
                (7, false),
                (8, true),
                (16, true),
                (24, false)
            ]
        );
        assert_eq!(words(8, 8).collect::<Vec<_>>(), [(8, true)]);
        assert_eq!(words(8, 7).count(), 7);
        assert_eq!(words(3, 0).count(), 0);
    }

    #[test]
    fn aligned_mappings_start_aligned_and_leave_nothing_around() {
        let file = std::fs::File::open("/dev/zero").unwrap();
        let (len, align) = (3 * page_size(), 512 * page_size());
        let m = Mapping::aligned(
            &file,
            len,
            ProtFlags::PROT_READ,
            MapFlags::MAP_PRIVATE,
            0,
            align,
        )
        .unwrap();
        assert_eq!(m.addr() % align as u64, 0);
        assert_eq!(m.read(len - 1), 0);
        let maps =
            crate::maps::parse_maps(&std::fs::read_to_string("/proc/self/maps").unwrap()).unwrap();
        let ours = maps.iter().find(|e| e.contains(m.addr())).unwrap();
        assert_eq!((ours.start, ours.end), (m.addr(), m.addr() + len as u64));
        // The reservation's head and tail were given back: no PROT_NONE VMA touches ours.
        assert!(
            !maps
                .iter()
                .any(|e| e.perms.starts_with("---") && (e.end == ours.start || e.start == ours.end))
        );
        let page = page_size() as u64;
        let c = Mapping::congruent(
            &file,
            len,
            ProtFlags::PROT_READ,
            MapFlags::MAP_PRIVATE,
            5 * page as i64,
            align,
        )
        .unwrap();
        assert_eq!(c.addr() % align as u64, 5 * page);
        assert_eq!(c.read(len - 1), 0);
        let odd = Mapping::aligned(
            &file,
            len,
            ProtFlags::PROT_READ,
            MapFlags::MAP_PRIVATE,
            0,
            3,
        );
        assert!(
            odd.is_err(),
            "an alignment that is no power of two is refused"
        );
    }
}
