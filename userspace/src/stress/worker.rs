//! One worker of the workload: a thread with its own random stream, its own slice of each
//! device, and the fds and mappings it made; `vma_changes` holds its operations that change its
//! VMAs.

use std::ffi::c_void;
use std::fs::File;
use std::ops::Range;
use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, madvise};
use nix::sys::uio::{pread, pwrite};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Config, Report, Target};
use crate::device::Kind;
use crate::mapping::{Mapping, page_size};
use crate::uapi;

/// Fails the worker with a message unless `cond` holds.
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

mod vma_changes;

/// Where a kernel with transparent huge pages has their settings.
const THP_SYSFS: &str = "/sys/kernel/mm/transparent_hugepage";

/// Mappings a worker keeps at most: a fork's child reads every page of each, and on the 1 GiB
/// reservation each may be all of it.
const MAX_MAPS: usize = 12;

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
    /// `MADV_DONTFORK`: a fork's child has none of it.
    dontfork: bool,
}

/// A range of pages a worker mapped, all in one VMA and all with the same `Meta`: an operation
/// on part of it first cuts it in pieces ([`carve`]), as the kernel splits the VMA.
struct Map {
    meta: Meta,
    map: Mapping,
    /// What made this piece, for a failure's message: the mmap and every cut and move since.
    history: String,
}

impl Map {
    fn pages(&self) -> usize {
        self.map.len() / page_size()
    }
}

/// Cuts `m` into its pages before `a`, those of `a..b` and those from `b` on (`a < b`), each
/// owning its pages from now on.
fn carve(m: Map, a: usize, b: usize) -> (Option<Map>, Map, Option<Map>) {
    let (ps, pages, meta) = (page_size(), m.pages(), m.meta);
    let (ptr, _) = m.map.into_raw();
    let history = m.history;
    let piece = |from: usize, to: usize| Map {
        meta: Meta {
            first: meta.first + from,
            ..meta
        },
        // SAFETY: Pages `from..to` of the mapping `m` owned, which no other piece holds.
        map: unsafe { Mapping::from_raw(ptr.byte_add(from * ps), (to - from) * ps) },
        history: format!("{history}, pages {from}..{to} of {pages}"),
    };
    let head = (a > 0).then(|| piece(0, a));
    let tail = (b < pages).then(|| piece(b, pages));
    (head, piece(a, b), tail)
}

fn addr(m: &Mapping) -> NonNull<c_void> {
    NonNull::new(m.addr() as *mut c_void).expect("mappings are never at address 0")
}

/// What an operation did, for the report: its kind, and the node it ran on if only one.
struct Done {
    dev: Option<usize>,
    kind: &'static str,
}

type Step = Result<Done, String>;

/// An operation of `kind` on node `dev`.
fn on(dev: usize, kind: &'static str) -> Step {
    Ok(Done {
        dev: Some(dev),
        kind,
    })
}

pub(super) struct Worker<'a> {
    cfg: &'a Config,
    devs: &'a [Target],
    rng: StdRng,
    /// This worker's slice of each device, in pages: only it writes there.
    own: Vec<Range<usize>>,
    /// Where the last worker's slice of each device ends: pages from there on are no one's.
    owned_end: Vec<usize>,
    /// An fd per device for checking contents with `pread`.
    check: Vec<File>,
    fds: Vec<(usize, File, bool)>,
    maps: Vec<Map>,
    report: Report,
    ps: usize,
}

impl<'a> Worker<'a> {
    pub(super) fn new(
        cfg: &'a Config,
        devs: &'a [Target],
        w: usize,
        workers: usize,
    ) -> Result<Self, String> {
        let mut own = Vec::new();
        for d in devs {
            let slice = d.pages / workers;
            check!(
                slice >= 2,
                "the {} buffer of {} pages is too small for {workers} workers",
                d.device.name(),
                d.pages
            );
            own.push(w * slice..(w + 1) * slice);
        }
        Ok(Self {
            cfg,
            devs,
            rng: StdRng::seed_from_u64(
                cfg.seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
            own,
            owned_end: devs.iter().map(|d| d.pages / workers * workers).collect(),
            check: devs
                .iter()
                .map(|d| d.device.open(true))
                .collect::<Result<_, _>>()?,
            fds: Vec::new(),
            maps: Vec::new(),
            report: Report::default(),
            ps: page_size(),
        })
    }

    pub(super) fn run(mut self) -> Result<Report, String> {
        let deadline = Instant::now() + Duration::from_secs(self.cfg.seconds);
        let mut n = 0;
        while n < self.cfg.max_ops && Instant::now() < deadline {
            let op = self.rng.random_range(0..100);
            let done = match op {
                0..6 => self.open()?,
                6..9 => self.close()?,
                9..24 => self.mmap()?,
                24..42 => self.touch()?,
                42..48 => self.munmap_part()?,
                48..53 => self.munmap_whole()?,
                53..59 => self.mremap()?,
                59..65 => self.mprotect()?,
                65..74 => self.madvise()?,
                74..79 => self.fork_check()?,
                79..95 => self.read_write()?,
                _ => self.info()?,
            };
            let key = match done.dev {
                Some(d) => format!("{}.{}", self.devs[d].device.name(), done.kind),
                None => done.kind.to_string(),
            };
            self.report.count(key);
            n += 1;
        }
        self.maps.clear();
        self.fds.clear();
        Ok(self.report)
    }

    fn open(&mut self) -> Step {
        if self.fds.len() >= 4 {
            return self.close();
        }
        let d = self.rng.random_range(0..self.devs.len());
        let write = self.rng.random_bool(0.8);
        self.fds.push((d, self.devs[d].device.open(write)?, write));
        on(d, "open")
    }

    fn close(&mut self) -> Step {
        if !self.fds.is_empty() {
            // Mappings of the fd stay alive: the VMA holds the file.
            let i = self.rng.random_range(0..self.fds.len());
            self.fds.swap_remove(i);
        }
        Ok(Done {
            dev: None,
            kind: "close",
        })
    }

    /// Where a new mapping of device `d` goes: its first page and its length in pages.
    fn placement(&mut self, d: usize) -> (usize, usize) {
        let dev = &self.devs[d];
        let own = self.own[d].clone();
        if !dev.spans.is_empty() && self.rng.random_bool(0.6) {
            // Whole spans of a huge entry, one holding a page this worker owns and maybe the
            // next, so that the first touch maps them whole; sometimes a few pages short at
            // either end, which then take PTEs.
            let span = dev.spans[self.rng.random_range(0..dev.spans.len())];
            let mut first = self.rng.random_range(own) / span * span;
            let mut end = (first + span * self.rng.random_range(1..=2)).min(dev.pages);
            // (Spans are hundreds of pages; a buffer's last one may be short.)
            if end - first > 8 && self.rng.random_bool(0.3) {
                first += self.rng.random_range(1..4);
            }
            if end - first > 8 && self.rng.random_bool(0.3) {
                end -= self.rng.random_range(1..4);
            }
            return (first, end - first);
        }
        // Mostly inside the slice this worker owns, sometimes anywhere, sometimes past the end.
        let len = self.rng.random_range(1..=8);
        let first = match self.rng.random_range(0..10) {
            0 => self.rng.random_range(0..dev.pages + 4),
            1 => dev.pages.saturating_sub(len) + self.rng.random_range(1..4),
            _ => self.rng.random_range(own),
        };
        (first, len)
    }

    fn mmap(&mut self) -> Step {
        if self.fds.is_empty() {
            return self.open();
        }
        if self.maps.len() >= MAX_MAPS {
            return self.munmap_whole();
        }
        let i = self.rng.random_range(0..self.fds.len());
        let d = self.fds[i].0;
        let (first, len) = self.placement(d);
        let shared = self.rng.random_bool(0.75);
        let writable = self.rng.random_bool(0.7);
        let (_, ref file, fd_write) = self.fds[i];
        let dev = &self.devs[d];
        let kind = dev.device.kind;
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
        } else if first + len > dev.pages || (kind.pfnmap() && !shared && writable) {
            // Past the end; or copy-on-write of a PFN mapping, which the remap and huge nodes
            // refuse.
            Err(Errno::EINVAL)
        } else {
            Ok(())
        };
        let (bytes, offset) = (len * self.ps, (first * self.ps) as i64);
        let res = match dev.align() {
            Some(align) => Mapping::congruent(file.as_fd(), bytes, prot, flags, offset, align),
            None => Mapping::new(file.as_fd(), bytes, prot, flags, offset),
        };
        match (res, expected) {
            (Ok(map), Ok(())) => {
                // VM_MAYWRITE: shared needs a writable fd; PFN private is read-only for good, the
                // fault and folio nodes' private mappings are copy-on-write.
                let may_write = if shared { fd_write } else { !kind.pfnmap() };
                if kind == Kind::Folio {
                    // Where THP is `madvise` in sysfs, only a VM_HUGEPAGE VMA of pages takes
                    // PMD entries; elsewhere the advice changes nothing. Advice on the whole
                    // VMA splits nothing.
                    // SAFETY: Advice on the mapping just made, which nothing else uses yet.
                    let res = unsafe { madvise(addr(&map), map.len(), MmapAdvise::MADV_HUGEPAGE) };
                    check!(
                        res.is_ok() || !std::path::Path::new(THP_SYSFS).exists(),
                        "MADV_HUGEPAGE of a new folio mapping: {res:?}"
                    );
                }
                let meta = Meta {
                    dev: d,
                    first,
                    shared,
                    writable,
                    may_write,
                    dontfork: false,
                };
                let history = format!(
                    "mmap of {len} pages at page {first} at {:#x} (shared {shared}, write {writable})",
                    map.addr()
                );
                self.maps.push(Map { meta, map, history });
            }
            (Err(e), Err(want)) if e == want => {}
            (res, want) => {
                return Err(format!(
                    "mmap({len} pages at page {first}, shared {shared}, write {writable}, fd write {fd_write}) on {}: {:?}, expected {want:?}",
                    dev.device.name(),
                    res.map(|_| ())
                ));
            }
        }
        on(d, "mmap")
    }

    fn pick_map(&mut self) -> Option<usize> {
        (!self.maps.is_empty()).then(|| self.rng.random_range(0..self.maps.len()))
    }

    /// The pages of `m`, counted from its start, that fall in this worker's slice.
    fn owned_pages(&self, m: &Map) -> Range<usize> {
        let own = &self.own[m.meta.dev];
        let from = own.start.max(m.meta.first);
        let to = own.end.min(m.meta.first + m.pages());
        if from < to {
            from - m.meta.first..to - m.meta.first
        } else {
            0..0
        }
    }

    /// A random part of mapping `i` to change: all of it a quarter of the time, else pages
    /// `a..b` of it; on the huge and folio nodes these sometimes end on the spans' boundaries,
    /// which cut no huge entry.
    fn part_of(&mut self, i: usize) -> (usize, usize) {
        let (pages, meta) = (self.maps[i].pages(), self.maps[i].meta);
        if pages < 2 || self.rng.random_bool(0.25) {
            return (0, pages);
        }
        let a = self.rng.random_range(0..pages);
        let b = self.rng.random_range(a + 1..=pages);
        match self.devs[meta.dev].spans.first() {
            Some(&span) if self.rng.random_bool(0.25) => {
                let first = meta.first;
                let down = ((first + a) / span * span).saturating_sub(first);
                let up = ((first + b).next_multiple_of(span) - first).min(pages);
                (down, up)
            }
            _ => (a, b),
        }
    }

    fn device_byte(&self, d: usize, page: usize, off: usize) -> Result<u8, String> {
        let mut b = [0u8];
        pread(&self.check[d], &mut b, (page * self.ps + off) as i64)
            .map_err(|e| format!("pread: {e}"))?;
        Ok(b[0])
    }

    fn touch(&mut self) -> Step {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        // Half the time a page this worker owns, whose bytes it can check.
        let owned_pages = self.owned_pages(&self.maps[i]);
        let page = if !owned_pages.is_empty() && self.rng.random_bool(0.5) {
            self.rng.random_range(owned_pages)
        } else {
            self.rng.random_range(0..self.maps[i].pages())
        };
        let off = self.rng.random_range(0..self.ps);
        let v: u8 = self.rng.random();
        let Map { meta, map, .. } = &self.maps[i];
        let dev = &self.devs[meta.dev].device;
        let name = dev.name();
        let file_page = meta.first + page;
        // Only bytes this worker owns have contents it can predict.
        let owned = self.own[meta.dev].contains(&file_page);
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
            // A private mapping of PFNs is never copied: it shows the device's bytes too.
            if owned && (meta.shared || dev.kind.pfnmap()) {
                let dev = self.device_byte(meta.dev, file_page, off)?;
                check!(
                    got == dev,
                    "{name}: mapping shows {got:#x}, read() {dev:#x} at page {file_page}+{off} (shared {})",
                    meta.shared
                );
            }
        }
        on(meta.dev, "touch")
    }

    fn read_write(&mut self) -> Step {
        let d = self.rng.random_range(0..self.devs.len());
        let pages = self.devs[d].pages;
        let size = pages * self.ps;
        let len = self.rng.random_range(1..=64);
        if self.rng.random_bool(0.3) {
            // Around and past the end.
            let pos = size - self.rng.random_range(0..8) + self.rng.random_range(0..8);
            let data = vec![0u8; len];
            // Only where no worker checks contents: past the owned slices, or in this one's.
            let may_write = self.owned_end[d] < pages || self.own[d].end == pages;
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
            return on(d, "rw_end");
        }
        let own = &self.own[d];
        let pos = own.start * self.ps + self.rng.random_range(0..own.len() * self.ps - len);
        let data: Vec<u8> = (0..len).map(|_| self.rng.random()).collect();
        let n = pwrite(&self.check[d], &data, pos as i64).map_err(|e| e.to_string())?;
        check!(n == len, "pwrite wrote {n} of {len}");
        let mut buf = vec![0u8; len];
        pread(&self.check[d], &mut buf, pos as i64).map_err(|e| e.to_string())?;
        check!(buf == data, "pread does not return what pwrite wrote");
        on(d, "rw")
    }

    fn info(&mut self) -> Step {
        let d = self.rng.random_range(0..self.devs.len());
        let info = uapi::info(self.check[d].as_fd()).map_err(|e| e.to_string())?;
        let backing = self.devs[d].device.backing();
        check!(
            info.backing == backing && info.size == (self.devs[d].pages * self.ps) as u64,
            "info {info:?}"
        );
        on(d, "ioctl")
    }
}
