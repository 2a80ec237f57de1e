//! One worker of the workload: a thread with its own random stream, its own slice of each
//! device, and the fds and mappings it made; `vma_ops` holds its VMA-changing operations.

use std::ffi::c_void;
use std::fs::File;
use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags};
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

mod vma_ops;

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

pub(super) struct Worker<'a> {
    cfg: &'a Config,
    devs: &'a [Target; 2],
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

impl<'a> Worker<'a> {
    pub(super) fn new(
        cfg: &'a Config,
        devs: &'a [Target; 2],
        w: usize,
        workers: usize,
    ) -> Result<Self, String> {
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

    pub(super) fn run(mut self) -> Result<Report, String> {
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
