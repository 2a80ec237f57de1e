//! Helpers the topics share: mapping and I/O with errors as messages, child processes, sizes
//! derived from the page size, and the kernel log.

use std::ffi::c_void;
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, madvise};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use vmdev::boot::{self, Reservation};
use vmdev::mapping::{Mapping, page_size};
use vmdev::maps::self_smaps_entry;
use vmdev::uapi;

use crate::harness::{Device, Outcome, diag, ensure};

/// The page size (sysconf).
pub fn ps() -> usize {
    page_size()
}

/// The pages one fault on the fault device `d` maps at most: its window, which it reports in
/// `vmdev_info.flags` (module parameters `fault_around` and `fault_around_bytes`).
pub fn device_window(d: &Device) -> Result<usize, String> {
    Ok((uapi::fault_window_bytes(d.info()?.flags) / ps()).max(1))
}

/// W: the unit of the fault tests' sizes and alignments, in pages: the fault device's window,
/// or 64 KiB where that is more (fault-around off), so that the tests' mappings still span
/// several pages.
pub fn window(d: &Device) -> Result<usize, String> {
    Ok(device_window(d)?.max((65536 / ps()).max(1)))
}

/// The span one page table maps (a PMD's: 2 MiB on 4 KiB pages).
pub fn pmd_span() -> usize {
    ps() * (ps() / 8)
}

/// The span one PUD entry maps (1 GiB on 4 KiB pages): a page table's worth of PMD spans.
pub fn pud_span() -> usize {
    pmd_span() * (ps() / 8)
}

/// The range reserved at boot under `name` (one of `vmdev::boot`'s), or the skip that says the
/// kernel command line announces none.
pub fn reservation(name: &str) -> Result<Result<Reservation, Outcome>, String> {
    Ok(boot::reserved(name)?.ok_or_else(|| {
        Outcome::Skip(format!(
            "no vmdev_reserved={name}:BASE,SIZE on the kernel command line"
        ))
    }))
}

/// The `pud` range reserved at boot, which the tests of PUD mappings load the module on: one
/// naturally aligned PUD span, or the skip that says there is none. It is announced with any
/// page size, and is one span only with 4 KiB pages (a 16 KiB page's PUD spans 64 GiB); a
/// range of the span's size that is not aligned to it is the runner's error.
pub fn pud_reservation() -> Result<Result<Reservation, Outcome>, String> {
    let pud = pud_span() as u64;
    let r = match reservation(boot::PUD)? {
        Ok(r) => r,
        Err(skip) => return Ok(Err(skip)),
    };
    if r.size != pud {
        return Ok(Err(Outcome::Skip(format!(
            "the {} reservation {r} is not one PUD span: {pud:#x} bytes with {:#x}-byte pages",
            boot::PUD,
            ps()
        ))));
    }
    ensure!(
        r.base % pud == 0,
        "the {} reservation {r} is not aligned to its size, one PUD span",
        boot::PUD
    );
    Ok(Ok(r))
}

/// The first range of System RAM in /proc/iomem (root sees real addresses).
pub fn system_ram() -> Result<(u64, u64), String> {
    let iomem = std::fs::read_to_string("/proc/iomem").map_err(|e| format!("/proc/iomem: {e}"))?;
    iomem
        .lines()
        .filter(|l| !l.starts_with(' ') && l.ends_with(" : System RAM"))
        .find_map(|l| {
            let (start, end) = l.split(" : ").next()?.split_once('-')?;
            let (start, end) = (
                u64::from_str_radix(start, 16).ok()?,
                u64::from_str_radix(end, 16).ok()?,
            );
            Some((start, end - start + 1))
        })
        .ok_or_else(|| "no System RAM in /proc/iomem".into())
}

/// The largest buddy allocation: a page << MAX_PAGE_ORDER (4 MiB on 4 KiB pages, 32 MiB on
/// 16 KiB), from the number of orders /proc/buddyinfo counts free blocks of.
pub fn max_alloc() -> Result<usize, String> {
    let info =
        std::fs::read_to_string("/proc/buddyinfo").map_err(|e| format!("/proc/buddyinfo: {e}"))?;
    let orders = info
        .lines()
        .next()
        .map(|l| {
            l.split_whitespace()
                .filter(|w| w.parse::<u64>().is_ok())
                .count()
        })
        .filter(|&n| n > 0)
        .ok_or("/proc/buddyinfo: no free-block counts")?;
    Ok(ps() << (orders - 1))
}

/// Read-write.
pub const RW: ProtFlags = ProtFlags::PROT_READ.union(ProtFlags::PROT_WRITE);

/// A shared read-write mapping of `len` bytes at `offset`.
pub fn shared(file: &File, len: usize, offset: usize) -> Result<Mapping, String> {
    Mapping::shared(file.as_fd(), len, offset as i64)
        .map_err(|e| format!("mmap({len}, offset {offset}): {e}"))
}

/// A mapping with any protection and flags.
pub fn map(
    file: &File,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
    offset: usize,
) -> Result<Mapping, String> {
    Mapping::new(file.as_fd(), len, prot, flags, offset as i64)
        .map_err(|e| format!("mmap({len}, {prot:?}, {flags:?}, offset {offset}): {e}"))
}

/// A mapping whose address is a multiple of `align` (the offset should be one too), so that
/// windows and page tables line up with it.
pub fn map_aligned(
    file: &File,
    len: usize,
    flags: MapFlags,
    offset: usize,
    align: usize,
) -> Result<Mapping, String> {
    Mapping::aligned(file.as_fd(), len, RW, flags, offset as i64, align)
        .map_err(|e| format!("mmap({len}, {flags:?}, offset {offset}, aligned to {align}): {e}"))
}

/// A mapping whose address is congruent to `offset` modulo `align` (a power of two), as huge
/// page-table entries need: each naturally aligned `align`-sized span of the file inside it
/// then lies at an `align`-aligned address.
pub fn map_congruent(
    file: &File,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
    offset: usize,
    align: usize,
) -> Result<Mapping, String> {
    Mapping::congruent(file.as_fd(), len, prot, flags, offset as i64, align).map_err(|e| {
        format!(
            "mmap({len:#x}, {prot:?}, {flags:?}, offset {offset:#x}, congruent mod {align:#x}): {e}"
        )
    })
}

/// The mmap itself, for tests of how it fails.
pub fn mmap_errno(
    file: &File,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
    offset: u64,
) -> Result<Mapping, Errno> {
    Mapping::new(file.as_fd(), len, prot, flags, offset as i64)
}

/// `len` bytes at `offset` with pread(2) (fewer at the end).
pub fn pread(file: &File, len: usize, offset: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0; len];
    let n =
        nix::sys::uio::pread(file, &mut buf, offset as i64).map_err(|e| format!("pread: {e}"))?;
    buf.truncate(n);
    Ok(buf)
}

/// pwrite(2).
pub fn pwrite(file: &File, data: &[u8], offset: usize) -> Result<usize, Errno> {
    nix::sys::uio::pwrite(file, data, offset as i64)
}

/// A recognisable byte pattern for position `i`, varied by `seed`.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Ok when `res` is the error `want`.
pub fn expect_errno<T>(what: &str, res: Result<T, Errno>, want: Errno) -> Result<(), String> {
    match res {
        Ok(_) => Err(format!("{what}: succeeded, expected {want}")),
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!("{what}: {e}, expected {want}")),
    }
}

/// Whether this process maps the device at all (after a failed mmap: nothing must be left).
pub fn device_mapped(dev: &Device) -> Result<bool, String> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let path = dev.path.to_string_lossy();
    Ok(maps.lines().any(|l| l.ends_with(path.as_ref())))
}

/// Pages of `m` mapped now (its Rss in smaps).
pub fn rss_pages(m: &Mapping) -> Result<u64, String> {
    let rss = self_smaps_entry(m.addr())?.fields.get("Rss").copied();
    Ok(rss.ok_or("no Rss in smaps")? * 1024 / ps() as u64)
}

/// Runs `body` in a child process and returns how it ended.
pub fn in_child(body: impl FnOnce() -> Result<(), String>) -> Result<WaitStatus, String> {
    // SAFETY: The test process is single-threaded when it forks.
    match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => {
            let code = match body() {
                Ok(()) => 0,
                Err(e) => {
                    diag!("child: {e}");
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => waitpid(child, None).map_err(|e| e.to_string()),
    }
}

/// Runs `body` in a child process and fails unless it succeeds.
pub fn child_ok(body: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    match in_child(body)? {
        WaitStatus::Exited(_, 0) => Ok(()),
        other => Err(format!("child ended with {other:?}")),
    }
}

/// Runs `body` in a child process and fails unless it is killed by `sig`.
pub fn child_killed_by(sig: Signal, body: impl FnOnce()) -> Result<(), String> {
    match in_child(|| {
        body();
        Ok(())
    })? {
        WaitStatus::Signaled(_, s, _) if s == sig => Ok(()),
        other => Err(format!("child ended with {other:?}, expected {sig:?}")),
    }
}

/// madvise(2) over a part of `m`: `len` bytes from byte `offset`.
pub fn madvise_range(
    m: &Mapping,
    offset: usize,
    len: usize,
    advice: MmapAdvise,
) -> nix::Result<()> {
    let addr = m.addr() as usize + offset;
    let ptr = NonNull::new(addr as *mut c_void).ok_or(Errno::EINVAL)?;
    if offset + len > m.len() {
        return Err(Errno::EINVAL);
    }
    // SAFETY: The range is inside this live mapping; the advice changes no memory the program
    // uses through references (mappings are only accessed by volatile copies).
    unsafe { madvise(ptr, len, advice) }
}

/// madvise(2) over all of `m`.
pub fn madvise_errno(m: &Mapping, advice: MmapAdvise) -> nix::Result<()> {
    madvise_range(m, 0, m.len(), advice)
}

/// The kernel log from some point on, read from `/dev/kmsg`.
pub struct Kmsg(File);

impl Kmsg {
    /// Starts reading at the current end of the log.
    pub fn from_now() -> Result<Self, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .map_err(|e| e.to_string())?;
        nix::unistd::lseek(f.as_fd(), 0, nix::unistd::Whence::SeekEnd)
            .map_err(|e| e.to_string())?;
        Ok(Self(f))
    }

    /// The messages logged since the last call.
    pub fn new_lines(&mut self) -> Vec<String> {
        use std::io::Read;
        let mut lines = Vec::new();
        let mut buf = [0u8; 8192];
        // One record per read; EAGAIN when there is no more.
        while let Ok(n) = self.0.read(&mut buf) {
            let record = String::from_utf8_lossy(&buf[..n]);
            if let Some((_, msg)) = record.split_once(';') {
                lines.push(msg.lines().next().unwrap_or("").to_string());
            }
        }
        lines
    }
}

/// A refused mmap must leave nothing mapped and no VMA counted.
pub fn refused_cleanly(
    d: &Device,
    what: &str,
    res: Result<Mapping, Errno>,
    want: Errno,
    live_before: u64,
) -> Result<Outcome, String> {
    expect_errno(what, res, want)?;
    ensure!(
        !device_mapped(d)?,
        "{what}: failed but a VMA of {} is in /proc/self/maps",
        d.path.display()
    );
    let live = d.live_vmas()?;
    ensure!(
        live == live_before,
        "{what}: live_vmas {live}, was {live_before}"
    );
    Ok(Outcome::Pass)
}
