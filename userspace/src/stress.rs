//! A seeded, bounded random workload over both devices, checking the ABI's invariants as it
//! goes: `vmdev-stress` runs it from the command line, the selftest suite runs short ones.
//!
//! `procs` worker processes run `threads` threads each. Worker `w` uses its own random stream
//! (from the seed and `w`), so each worker's sequence of operations replays exactly from the seed;
//! only the interleaving between workers varies. Each worker owns a disjoint slice of each
//! device, which only it writes, so what it reads back through a mapping, `read()`, or after a
//! fork, can be checked exactly.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::mman::{
    MRemapFlags, MapFlags, MmapAdvise, ProtFlags, madvise, mmap_anonymous, mprotect, mremap, munmap,
};
use nix::sys::uio::{pread, pwrite};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::device::{Device, Kind};
use crate::mapping::{Mapping, page_size};
use crate::uapi;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The remap device node.
    pub remap: PathBuf,
    /// The fault device node.
    pub fault: PathBuf,
    /// Seed of every worker's random stream.
    pub seed: u64,
    /// Stop after this long.
    pub seconds: u64,
    /// Stop after this many operations per worker.
    pub max_ops: u64,
    /// Worker processes.
    pub procs: usize,
    /// Threads per worker process.
    pub threads: usize,
}

/// What ran: operations by kind, summed over every worker.
#[derive(Default, Debug)]
pub struct Report {
    /// Count of each kind of operation.
    pub ops: BTreeMap<String, u64>,
}

impl Report {
    /// All operations.
    pub fn total(&self) -> u64 {
        self.ops.values().sum()
    }

    fn add(&mut self, other: &Report) {
        for (k, v) in &other.ops {
            *self.ops.entry(k.clone()).or_default() += v;
        }
    }

    fn count(&mut self, kind: &str) {
        *self.ops.entry(kind.to_string()).or_default() += 1;
    }
}

/// Runs the workload; `Err` names the first broken invariant, with the seed.
pub fn run(cfg: &Config) -> Result<Report, String> {
    let devs = [
        Dev::new(Kind::Remap, &cfg.remap)?,
        Dev::new(Kind::Fault, &cfg.fault)?,
    ];
    let baseline: Vec<u64> = devs
        .iter()
        .map(|d| d.device.live_vmas())
        .collect::<Result<_, _>>()?;
    let workers = cfg.procs * cfg.threads;
    let mut children = Vec::new();
    for p in 0..cfg.procs {
        let (read_end, write_end) = pipe().map_err(|e| e.to_string())?;
        // SAFETY: The caller is single-threaded here (threads start in the children).
        match unsafe { fork() }.map_err(|e| e.to_string())? {
            ForkResult::Child => {
                drop(read_end);
                let result = run_process(cfg, &devs, p, workers);
                let mut out = File::from(write_end);
                let code = match result {
                    Ok(report) => {
                        let line: Vec<String> =
                            report.ops.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        let _ = writeln!(out, "{}", line.join(" "));
                        0
                    }
                    Err(e) => {
                        let _ = writeln!(out, "error {e}");
                        1
                    }
                };
                drop(out);
                std::process::exit(code);
            }
            ForkResult::Parent { child } => {
                drop(write_end);
                children.push((child, read_end));
            }
        }
    }
    let mut report = Report::default();
    let mut failures = Vec::new();
    for (p, (child, read_end)) in children.into_iter().enumerate() {
        let mut text = String::new();
        let _ = File::from(read_end).read_to_string(&mut text);
        let status = waitpid(child, None).map_err(|e| e.to_string())?;
        match (status, text.strip_prefix("error ")) {
            (WaitStatus::Exited(_, 0), None) => {
                for kv in text.split_whitespace() {
                    let (k, v) = kv.split_once('=').ok_or("bad report")?;
                    *report.ops.entry(k.to_string()).or_default() +=
                        v.parse::<u64>().map_err(|e| e.to_string())?;
                }
            }
            (_, Some(e)) => failures.push(format!("process {p}: {}", e.trim())),
            (other, None) => failures.push(format!("process {p} ended with {other:?}")),
        }
    }
    if !failures.is_empty() {
        return Err(format!("seed {}: {}", cfg.seed, failures.join("; ")));
    }
    for (d, base) in devs.iter().zip(baseline) {
        let live = d.device.live_vmas()?;
        if live != base {
            return Err(format!(
                "seed {}: {} live_vmas {live} after every worker unmapped, {base} before",
                cfg.seed,
                d.device.name()
            ));
        }
    }
    Ok(report)
}

fn run_process(cfg: &Config, devs: &[Dev; 2], p: usize, workers: usize) -> Result<Report, String> {
    let results: Vec<Result<Report, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cfg.threads)
            .map(|t| {
                let w = p * cfg.threads + t;
                s.spawn(move || Worker::new(cfg, devs, w, workers)?.run())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect()
    });
    let mut total = Report::default();
    for (t, r) in results.into_iter().enumerate() {
        total.add(&r.map_err(|e| format!("worker {}: {e}", p * cfg.threads + t))?);
    }
    Ok(total)
}

/// A device and its size in pages.
#[derive(Clone, Debug)]
struct Dev {
    device: Device,
    pages: usize,
}

impl Dev {
    fn new(kind: Kind, path: &std::path::Path) -> Result<Self, String> {
        let device = Device {
            kind,
            path: path.to_path_buf(),
        };
        Ok(Self {
            pages: device.size()? / page_size(),
            device,
        })
    }
}

/// What a worker knows about one of its mappings.
#[derive(Clone, Copy)]
struct Meta {
    dev: usize,
    /// File offset of the first page, in pages.
    first: usize,
    shared: bool,
    writable: bool,
    /// Whether `mprotect(PROT_WRITE)` may succeed (`VM_MAYWRITE`).
    may_write: bool,
    dontfork: bool,
}

/// A mapping a worker made.
struct Map {
    meta: Meta,
    map: Mapping,
}

impl Map {
    fn pages(&self) -> usize {
        self.map.len() / page_size()
    }
}

fn addr(m: &Mapping) -> NonNull<c_void> {
    NonNull::new(m.addr() as *mut c_void).expect("mappings are never at address 0")
}

/// An anonymous `PROT_NONE` range of `len` bytes, for `MREMAP_FIXED` to replace.
fn reserve(len: usize) -> Result<NonNull<c_void>, String> {
    let len = std::num::NonZeroUsize::new(len).ok_or("empty reservation")?;
    // SAFETY: A new anonymous mapping at an address the kernel picks touches nothing else.
    unsafe { mmap_anonymous(None, len, ProtFlags::PROT_NONE, MapFlags::MAP_PRIVATE) }
        .map_err(|e| e.to_string())
}

struct Worker<'a> {
    cfg: &'a Config,
    devs: &'a [Dev; 2],
    rng: StdRng,
    /// This worker's slice of each device, in pages: only it writes there.
    own: std::ops::Range<usize>,
    /// Where the last worker's slice ends: pages from here on belong to no one.
    owned_end: usize,
    /// An fd per device for checking contents with `pread`.
    check: [File; 2],
    fds: Vec<(usize, File, bool)>,
    maps: Vec<Map>,
    report: Report,
    ps: usize,
}

/// Fails the worker with a message unless `cond` holds.
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

impl<'a> Worker<'a> {
    fn new(cfg: &'a Config, devs: &'a [Dev; 2], w: usize, workers: usize) -> Result<Self, String> {
        let pages = devs.iter().map(|d| d.pages).min().unwrap_or(0);
        let slice = pages / workers;
        check!(
            slice >= 2,
            "devices of {pages} pages are too small for {workers} workers"
        );
        Ok(Self {
            cfg,
            devs,
            rng: StdRng::seed_from_u64(
                cfg.seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
            own: w * slice..(w + 1) * slice,
            owned_end: workers * slice,
            check: [devs[0].device.open(true)?, devs[1].device.open(true)?],
            fds: Vec::new(),
            maps: Vec::new(),
            report: Report::default(),
            ps: page_size(),
        })
    }

    fn run(mut self) -> Result<Report, String> {
        let deadline = Instant::now() + Duration::from_secs(self.cfg.seconds);
        let mut n = 0;
        while n < self.cfg.max_ops && Instant::now() < deadline {
            let op = self.rng.random_range(0..100);
            let kind = match op {
                0..8 => self.open()?,
                8..12 => self.close()?,
                12..30 => self.mmap()?,
                30..50 => self.touch()?,
                50..56 => self.munmap_part()?,
                56..62 => self.munmap_whole()?,
                62..67 => self.mremap()?,
                67..72 => self.mprotect()?,
                72..82 => self.madvise()?,
                82..86 => self.fork_touch()?,
                86..96 => self.read_write()?,
                _ => self.info()?,
            };
            self.report.count(kind);
            n += 1;
        }
        self.maps.clear();
        self.fds.clear();
        Ok(self.report)
    }

    fn open(&mut self) -> Result<&'static str, String> {
        if self.fds.len() >= 4 {
            return self.close();
        }
        let d = self.rng.random_range(0..2);
        let write = self.rng.random_bool(0.8);
        self.fds.push((d, self.devs[d].device.open(write)?, write));
        Ok("open")
    }

    fn close(&mut self) -> Result<&'static str, String> {
        if !self.fds.is_empty() {
            // Mappings of the fd stay alive: the VMA holds the file.
            let i = self.rng.random_range(0..self.fds.len());
            self.fds.swap_remove(i);
        }
        Ok("close")
    }

    fn mmap(&mut self) -> Result<&'static str, String> {
        if self.fds.is_empty() {
            return self.open();
        }
        if self.maps.len() >= 16 {
            return self.munmap_whole();
        }
        let i = self.rng.random_range(0..self.fds.len());
        let (d, ref file, fd_write) = self.fds[i];
        let dev = &self.devs[d];
        // Mostly inside the slice this worker owns, sometimes anywhere, sometimes past the end.
        let len = self.rng.random_range(1..=8);
        let first = match self.rng.random_range(0..10) {
            0 => self.rng.random_range(0..dev.pages + 4),
            1 => dev.pages.saturating_sub(len) + self.rng.random_range(1..4),
            _ => self.rng.random_range(self.own.clone()),
        };
        let shared = self.rng.random_bool(0.75);
        let writable = self.rng.random_bool(0.7);
        let mut prot = ProtFlags::PROT_READ;
        if writable {
            prot |= ProtFlags::PROT_WRITE;
        }
        let flags = if shared {
            MapFlags::MAP_SHARED
        } else {
            MapFlags::MAP_PRIVATE
        };
        // The core checks the fd's mode before the driver checks the range.
        let expected = if shared && writable && !fd_write {
            Err(Errno::EACCES)
        } else if first + len > dev.pages || (dev.device.kind == Kind::Remap && !shared && writable)
        {
            // Past the end; or copy-on-write of a PFN mapping, which the remap device refuses.
            Err(Errno::EINVAL)
        } else {
            Ok(())
        };
        let res = Mapping::new(
            file.as_fd(),
            len * self.ps,
            prot,
            flags,
            (first * self.ps) as i64,
        );
        match (res, expected) {
            (Ok(map), Ok(())) => {
                // VM_MAYWRITE: shared needs a writable fd; remap private is read-only for good.
                let may_write = if shared {
                    fd_write
                } else {
                    dev.device.kind == Kind::Fault
                };
                let meta = Meta {
                    dev: d,
                    first,
                    shared,
                    writable,
                    may_write,
                    dontfork: false,
                };
                self.maps.push(Map { meta, map });
            }
            (Err(e), Err(want)) if e == want => {}
            (res, want) => {
                return Err(format!(
                    "mmap({} pages at page {first}, shared {shared}, write {writable}, fd write {fd_write}) on {}: {:?}, expected {want:?}",
                    len,
                    dev.device.name(),
                    res.map(|_| ())
                ));
            }
        }
        Ok("mmap")
    }

    fn pick_map(&mut self) -> Option<usize> {
        (!self.maps.is_empty()).then(|| self.rng.random_range(0..self.maps.len()))
    }

    fn device_byte(&self, d: usize, page: usize, off: usize) -> Result<u8, String> {
        let mut b = [0u8];
        pread(&self.check[d], &mut b, (page * self.ps + off) as i64)
            .map_err(|e| format!("pread: {e}"))?;
        Ok(b[0])
    }

    fn touch(&mut self) -> Result<&'static str, String> {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        let page = self.rng.random_range(0..self.maps[i].pages());
        let off = self.rng.random_range(0..self.ps);
        let v: u8 = self.rng.random();
        let Map { meta, map } = &self.maps[i];
        let name = self.devs[meta.dev].device.name();
        let file_page = meta.first + page;
        // Only bytes this worker owns have contents it can predict.
        let owned = self.own.contains(&file_page);
        let at = page * self.ps + off;
        if meta.writable && (owned || !meta.shared) {
            let before = if owned {
                Some(self.device_byte(meta.dev, file_page, off)?)
            } else {
                None
            };
            map.write(at, v);
            check!(
                map.read(at) == v,
                "a {name} mapping does not read back its own write"
            );
            if let Some(before) = before {
                let now = self.device_byte(meta.dev, file_page, off)?;
                let want = if meta.shared { v } else { before };
                check!(
                    now == want,
                    "{name}: read() shows {now:#x} at page {file_page}+{off}, expected {want:#x} (shared {})",
                    meta.shared
                );
            }
        } else {
            let got = map.read(at);
            if meta.shared && owned {
                let dev = self.device_byte(meta.dev, file_page, off)?;
                check!(
                    got == dev,
                    "{name}: mapping shows {got:#x}, read() {dev:#x} at page {file_page}+{off}"
                );
            }
        }
        Ok("touch")
    }

    fn munmap_whole(&mut self) -> Result<&'static str, String> {
        if let Some(i) = self.pick_map() {
            self.maps.swap_remove(i);
        }
        Ok("munmap")
    }

    fn munmap_part(&mut self) -> Result<&'static str, String> {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        if self.maps[i].pages() < 2 {
            return self.munmap_whole();
        }
        let m = self.maps.swap_remove(i);
        let pages = m.pages();
        let cut = self.rng.random_range(0..pages);
        let meta = m.meta;
        let (ptr, _) = m.map.into_raw();
        let ps = self.ps;
        // SAFETY: Page `cut` of a mapping this worker owns; the VMA splits around the hole.
        unsafe { munmap(ptr.byte_add(cut * ps), ps) }
            .map_err(|e| format!("munmap(page {cut} of {pages}): {e}"))?;
        for (start, len) in [(0, cut), (cut + 1, pages - cut - 1)] {
            if len > 0 {
                // SAFETY: The pieces around the hole are still mapped, owned from now on.
                let map = unsafe { Mapping::from_raw(ptr.byte_add(start * ps), len * ps) };
                self.maps.push(Map {
                    meta: Meta {
                        first: meta.first + start,
                        ..meta
                    },
                    map,
                });
            }
        }
        Ok("munmap_part")
    }

    fn mremap(&mut self) -> Result<&'static str, String> {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        let ps = self.ps;
        let m = self.maps.swap_remove(i);
        let pages = m.pages();
        let meta = m.meta;
        let (ptr, len) = m.map.into_raw();
        let kind = match self.rng.random_range(0..3) {
            0 if pages > 1 => {
                let new_pages = self.rng.random_range(1..pages);
                // SAFETY: Shrinking a mapping this worker owns.
                let new = unsafe { mremap(ptr, len, new_pages * ps, MRemapFlags::empty(), None) }
                    .map_err(|e| format!("mremap shrink: {e}"))?;
                // SAFETY: The shrunk mapping, owned from now on.
                self.maps.push(Map {
                    meta,
                    map: unsafe { Mapping::from_raw(new, new_pages * ps) },
                });
                "mremap_shrink"
            }
            1 => {
                let target = reserve(len)?;
                let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED;
                // SAFETY: Moving a mapping this worker owns onto a reservation it owns.
                let new = unsafe { mremap(ptr, len, len, flags, Some(target)) }
                    .map_err(|e| format!("mremap move: {e}"))?;
                // SAFETY: The moved mapping, owned from now on.
                self.maps.push(Map {
                    meta,
                    map: unsafe { Mapping::from_raw(new, len) },
                });
                "mremap_move"
            }
            _ => {
                // SAFETY: Growing must fail (VM_DONTEXPAND), leaving the mapping as it was.
                let res = unsafe { mremap(ptr, len, len + ps, MRemapFlags::MREMAP_MAYMOVE, None) };
                // SAFETY: Still the same mapping, owned from now on.
                self.maps.push(Map {
                    meta,
                    map: unsafe { Mapping::from_raw(ptr, len) },
                });
                check!(res.is_err(), "mremap grew a VM_DONTEXPAND mapping");
                "mremap_grow"
            }
        };
        Ok(kind)
    }

    fn mprotect(&mut self) -> Result<&'static str, String> {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        let Map { meta, map } = &mut self.maps[i];
        let want_write = !meta.writable;
        let prot = if want_write {
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE
        } else {
            ProtFlags::PROT_READ
        };
        // SAFETY: Changing the protection of a mapping this worker owns and tracks.
        let res = unsafe { mprotect(addr(map), map.len(), prot) };
        match res {
            Ok(()) if !want_write || meta.may_write => meta.writable = want_write,
            Err(Errno::EACCES) if want_write && !meta.may_write => {}
            other => {
                return Err(format!(
                    "mprotect(write {want_write}) with may_write {}: {other:?}",
                    meta.may_write
                ));
            }
        }
        Ok("mprotect")
    }

    fn madvise(&mut self) -> Result<&'static str, String> {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        let remap = self.devs[self.maps[i].meta.dev].device.kind == Kind::Remap;
        let choice = self.rng.random_range(0..5);
        let Map { meta, map } = &mut self.maps[i];
        let (advice, expected, kind) = match choice {
            // PFN mappings refuse both; on the fault device, shared contents survive the zap.
            0 => (
                MmapAdvise::MADV_DONTNEED,
                if remap { Err(Errno::EINVAL) } else { Ok(()) },
                "madv_dontneed",
            ),
            1 => (
                MmapAdvise::MADV_POPULATE_READ,
                if remap { Err(Errno::EINVAL) } else { Ok(()) },
                "madv_populate",
            ),
            2 if meta.writable => (
                MmapAdvise::MADV_POPULATE_WRITE,
                if remap { Err(Errno::EINVAL) } else { Ok(()) },
                "madv_populate",
            ),
            3 => (MmapAdvise::MADV_DONTFORK, Ok(()), "madv_dontfork"),
            _ => (MmapAdvise::MADV_DOFORK, Err(Errno::EINVAL), "madv_dofork"),
        };
        // SAFETY: Advice on a mapping this worker owns; none of it invalidates memory that Rust
        // code holds references into (the mapping is only accessed by volatile copies).
        let res = unsafe { madvise(addr(map), map.len(), advice) };
        check!(
            res == expected,
            "{advice:?} on {}: {res:?}, expected {expected:?}",
            if remap { "remap" } else { "fault" }
        );
        if advice == MmapAdvise::MADV_DONTFORK {
            meta.dontfork = true;
        }
        let (meta, got) = (*meta, map.read(0));
        if advice == MmapAdvise::MADV_DONTNEED && meta.shared && self.own.contains(&meta.first) {
            // The zapped page faults back in from the device.
            let dev = self.device_byte(meta.dev, meta.first, 0)?;
            check!(
                got == dev,
                "after MADV_DONTNEED the mapping shows {got:#x}, the device {dev:#x}"
            );
        }
        Ok(kind)
    }

    fn fork_touch(&mut self) -> Result<&'static str, String> {
        // The child writes one owned byte through each shared writable mapping it inherits,
        // without allocating (other threads may hold the allocator's locks at fork).
        // One target per device page: mappings that alias a page would overwrite each other.
        let mut pages = std::collections::BTreeSet::new();
        let targets: Vec<(usize, u8)> = self
            .maps
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.meta.shared
                    && m.meta.writable
                    && !m.meta.dontfork
                    && self.own.contains(&m.meta.first)
            })
            .filter(|(_, m)| pages.insert((m.meta.dev, m.meta.first)))
            .map(|(i, _)| (i, self.rng.random()))
            .collect();
        let readable: Vec<usize> = (0..self.maps.len())
            .filter(|&i| !self.maps[i].meta.dontfork)
            .collect();
        // SAFETY: The child only does volatile loads and stores on inherited mappings and exits
        // with `_exit`; it takes no lock another thread could hold.
        match unsafe { fork() }.map_err(|e| e.to_string())? {
            ForkResult::Child => {
                for &i in &readable {
                    let _ = self.maps[i].map.read(0);
                }
                for &(i, v) in &targets {
                    self.maps[i].map.write(0, v);
                }
                // SAFETY: Ends the child without running the parent's destructors or atexit.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).map_err(|e| e.to_string())?;
                check!(
                    matches!(status, WaitStatus::Exited(_, 0)),
                    "forked child ended with {status:?}"
                );
            }
        }
        for (i, v) in targets {
            let m = &self.maps[i];
            check!(
                m.map.read(0) == v,
                "the child's write through a shared mapping is not seen"
            );
            check!(
                self.device_byte(m.meta.dev, m.meta.first, 0)? == v,
                "the child's write did not reach the device"
            );
        }
        Ok("fork")
    }

    fn read_write(&mut self) -> Result<&'static str, String> {
        let d = self.rng.random_range(0..2);
        let size = self.devs[d].pages * self.ps;
        let len = self.rng.random_range(1..=64);
        if self.rng.random_bool(0.3) {
            // Around and past the end.
            let pos = size - self.rng.random_range(0..8) + self.rng.random_range(0..8);
            let data = vec![0u8; len];
            // Only where no worker checks contents: past the owned slices, or in this one's.
            let pages = self.devs[d].pages;
            let may_write = self.owned_end < pages || self.own.end == pages;
            let res = may_write.then(|| pwrite(&self.check[d], &data, pos as i64));
            let mut buf = vec![0u8; len];
            let n = pread(&self.check[d], &mut buf, pos as i64).map_err(|e| e.to_string())?;
            check!(
                n == len.min(size.saturating_sub(pos)),
                "pread({len} at {pos}) of {size} bytes returned {n}"
            );
            if let Some(res) = res {
                let want = if pos >= size {
                    Err(Errno::ENOSPC)
                } else {
                    Ok(len.min(size - pos))
                };
                check!(
                    res == want,
                    "pwrite({len} at {pos}) of {size} bytes: {res:?}, expected {want:?}"
                );
            }
            return Ok("rw_end");
        }
        let pos =
            self.own.start * self.ps + self.rng.random_range(0..self.own.len() * self.ps - len);
        let data: Vec<u8> = (0..len).map(|_| self.rng.random()).collect();
        let n = pwrite(&self.check[d], &data, pos as i64).map_err(|e| e.to_string())?;
        check!(n == len, "pwrite wrote {n} of {len}");
        let mut buf = vec![0u8; len];
        pread(&self.check[d], &mut buf, pos as i64).map_err(|e| e.to_string())?;
        check!(buf == data, "pread does not return what pwrite wrote");
        Ok("rw")
    }

    fn info(&mut self) -> Result<&'static str, String> {
        let d = self.rng.random_range(0..2);
        let info = uapi::info(self.check[d].as_fd()).map_err(|e| e.to_string())?;
        let backing = self.devs[d].device.backing();
        check!(
            info.backing == backing && info.size == (self.devs[d].pages * self.ps) as u64,
            "info {info:?}"
        );
        Ok("ioctl")
    }
}
