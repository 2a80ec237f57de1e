//! The worker's operations that change its VMAs: munmap, mremap, mprotect, madvise, of all of
//! a mapping or of part of it (which splits the VMA, and on the huge and folio nodes the huge
//! entries that the cut crosses), and fork, whose child checks every page it inherited.

use std::collections::BTreeSet;
use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{
    MRemapFlags, MapFlags, MmapAdvise, ProtFlags, madvise, mmap_anonymous, mprotect, mremap, munmap,
};
use nix::sys::uio::pread;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use rand::Rng;

use super::{Done, Map, Step, Worker, addr, carve, on};
use crate::device::Kind;
use crate::mapping::Mapping;

/// An anonymous `PROT_NONE` range of `len` bytes for `MREMAP_FIXED` to replace: at an address
/// congruent to `like` modulo `align` when `congruent` gives them (so that huge entries can
/// move whole), else wherever the kernel puts it.
fn reserve(len: usize, congruent: Option<(usize, usize)>) -> Result<NonNull<c_void>, String> {
    let align = congruent.map_or(0, |(_, align)| align);
    let total = NonZeroUsize::new(len + align).ok_or("empty reservation")?;
    let flags = MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE;
    // SAFETY: A new anonymous mapping at an address the kernel picks touches nothing else.
    let base = unsafe { mmap_anonymous(None, total, ProtFlags::PROT_NONE, flags) }
        .map_err(|e| format!("reserving {total} bytes: {e}"))?;
    let Some((like, align)) = congruent else {
        return Ok(base);
    };
    let start = base.as_ptr() as usize;
    let phase = like % align;
    // The first address at or after `start` that is `phase` past a multiple of `align`: less
    // than `align` past it, so `len` bytes from there fit in the reservation.
    let at = start.saturating_sub(phase).next_multiple_of(align) + phase;
    for (from, to) in [(start, at), (at + len, start + total.get())] {
        if let Some(ptr) = NonNull::new(from as *mut c_void).filter(|_| to > from) {
            // SAFETY: Parts of the reservation just made that the target does not use.
            unsafe { munmap(ptr, to - from) }.map_err(|e| format!("munmap: {e}"))?;
        }
    }
    NonNull::new(at as *mut c_void).ok_or_else(|| "reserved at address 0".into())
}

/// Ends a fork's child that found something wrong, leaving `words` in the page `report`
/// shared with its parent: what failed, the mapping, the page, what it saw, what it expected.
/// Allocates nothing (another thread of the parent may have held the allocator's lock at fork).
fn child_fails(report: &Mapping, words: [u64; 5]) -> ! {
    for (k, w) in words.iter().enumerate() {
        report.write_bytes(8 * k, &w.to_ne_bytes());
    }
    // SAFETY: Ends the child without running the parent's destructors or atexit handlers.
    unsafe { libc::_exit(1) }
}

/// A fork's child's report: a byte it read is not the one the parent read before the fork.
const BYTE_DIFFERS: u64 = 1;
/// A fork's child's report: it has a page of a mapping made `MADV_DONTFORK`.
const DONTFORK_PRESENT: u64 = 2;

/// The bytes a fork's child must see in one inherited mapping: in each page of `pages` (the
/// ones the worker owns, counted from the mapping's start), at the byte checked.
struct Expected {
    map: usize,
    pages: Range<usize>,
    bytes: Vec<u8>,
}

impl Worker<'_> {
    pub(super) fn munmap_whole(&mut self) -> Step {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        let m = self.maps.swap_remove(i);
        let d = m.meta.dev;
        let (ptr, len) = m.map.into_raw();
        // SAFETY: A whole mapping this worker owns, and forgets from now on.
        unsafe { munmap(ptr, len) }.map_err(|e| format!("munmap of {len} bytes: {e}"))?;
        on(d, "munmap")
    }

    pub(super) fn munmap_part(&mut self) -> Step {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        let (a, b) = self.part_of(i);
        let m = self.maps.swap_remove(i);
        let (d, pages) = (m.meta.dev, m.pages());
        let (head, hole, tail) = carve(m, a, b);
        self.maps.extend(head.into_iter().chain(tail));
        let (ptr, len) = hole.map.into_raw();
        // SAFETY: Pages `a..b` of a mapping this worker owns; the pieces around them stay.
        unsafe { munmap(ptr, len) }
            .map_err(|e| format!("munmap(pages {a}..{b} of {pages}): {e}"))?;
        on(
            d,
            if (a, b) == (0, pages) {
                "munmap"
            } else {
                "munmap_part"
            },
        )
    }

    pub(super) fn mremap(&mut self) -> Step {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        let ps = self.ps;
        let (d, pages) = (self.maps[i].meta.dev, self.maps[i].pages());
        match self.rng.random_range(0..3) {
            0 if pages > 1 => {
                let new_pages = self.rng.random_range(1..pages);
                let m = self.maps.swap_remove(i);
                let (meta, history) = (m.meta, m.history);
                let (ptr, len) = m.map.into_raw();
                // SAFETY: Shrinking a mapping this worker owns: its tail is unmapped.
                let new = unsafe { mremap(ptr, len, new_pages * ps, MRemapFlags::empty(), None) }
                    .map_err(|e| {
                    format!("mremap shrink of {pages} pages to {new_pages}: {e}")
                })?;
                check!(new == ptr, "mremap shrink moved the mapping");
                // SAFETY: The shrunk mapping, owned from now on.
                let map = unsafe { Mapping::from_raw(new, new_pages * ps) };
                let history = format!("{history}, shrunk to {new_pages} pages");
                self.maps.push(Map { meta, map, history });
                on(d, "mremap_shrink")
            }
            1 => {
                let (a, b) = self.part_of(i);
                // Half the time to an address congruent to the old one modulo the largest
                // huge span, where the entries can move as they are; else anywhere, where the
                // kernel must split them.
                let congruent = match self.devs[d].align() {
                    Some(align) if self.rng.random_bool(0.5) => {
                        Some((self.maps[i].map.addr() as usize + a * ps, align))
                    }
                    _ => None,
                };
                let m = self.maps.swap_remove(i);
                let (head, part, tail) = carve(m, a, b);
                self.maps.extend(head.into_iter().chain(tail));
                let (meta, history) = (part.meta, part.history);
                let (ptr, len) = part.map.into_raw();
                let target = reserve(len, congruent)?;
                let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED;
                // SAFETY: Moving pages of a mapping this worker owns onto a reservation it owns.
                let new = unsafe { mremap(ptr, len, len, flags, Some(target)) }
                    .map_err(|e| format!("mremap move of pages {a}..{b} of {pages}: {e}"))?;
                check!(
                    new == target,
                    "mremap moved to {new:p}, not to {target:p} as MREMAP_FIXED asked"
                );
                // SAFETY: The moved pages, owned from now on.
                let map = unsafe { Mapping::from_raw(new, len) };
                let history = format!("{history}, moved to {new:p}");
                self.maps.push(Map { meta, map, history });
                on(
                    d,
                    if (a, b) == (0, pages) {
                        "mremap_move"
                    } else {
                        "mremap_move_part"
                    },
                )
            }
            _ => {
                let m = &self.maps[i].map;
                // SAFETY: Growing must fail (VM_DONTEXPAND), leaving the mapping as it was.
                let res = unsafe {
                    mremap(
                        addr(m),
                        m.len(),
                        m.len() + ps,
                        MRemapFlags::MREMAP_MAYMOVE,
                        None,
                    )
                };
                check!(
                    res == Err(Errno::EFAULT),
                    "mremap growing a VM_DONTEXPAND mapping: {res:?}, expected EFAULT"
                );
                on(d, "mremap_grow")
            }
        }
    }

    pub(super) fn mprotect(&mut self) -> Step {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        let (a, b) = self.part_of(i);
        let ps = self.ps;
        let Map { meta, map, .. } = &self.maps[i];
        let (meta, pages) = (*meta, map.len() / ps);
        let want_write = !meta.writable;
        let prot = if want_write {
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE
        } else {
            ProtFlags::PROT_READ
        };
        // SAFETY: Pages `a..b` of a mapping this worker owns; the worker tracks the protection
        // of each piece and accesses them only by volatile copies.
        let res = unsafe { mprotect(addr(map).byte_add(a * ps), (b - a) * ps, prot) };
        match res {
            Ok(()) if !want_write || meta.may_write => {
                let (head, mut part, tail) = carve(self.maps.swap_remove(i), a, b);
                part.meta.writable = want_write;
                part.history += &format!(" made write {want_write}");
                self.maps.extend(head.into_iter().chain([part]).chain(tail));
            }
            // Refused before any VMA is split: the mapping stays one piece.
            Err(Errno::EACCES) if want_write && !meta.may_write => {}
            other => {
                return Err(format!(
                    "mprotect(pages {a}..{b} of {pages}, write {want_write}) with may_write {}: {other:?}",
                    meta.may_write
                ));
            }
        }
        on(
            meta.dev,
            if (a, b) == (0, pages) {
                "mprotect"
            } else {
                "mprotect_part"
            },
        )
    }

    pub(super) fn madvise(&mut self) -> Step {
        let Some(i) = self.pick_map() else {
            return self.mmap();
        };
        let (a, b) = self.part_of(i);
        let ps = self.ps;
        let meta = self.maps[i].meta;
        let pages = self.maps[i].pages();
        let kind = self.devs[meta.dev].device.kind;
        // The remap and huge nodes map PFNs (VM_PFNMAP), which refuse zapping and populating;
        // the fault and folio nodes map pages, which take both.
        let pfn = kind.pfnmap();
        let (advice, expected, what) = match self.rng.random_range(0..5) {
            // On the fault and folio nodes the contents survive the zap: they are the device's.
            0 => (
                MmapAdvise::MADV_DONTNEED,
                if pfn { Err(Errno::EINVAL) } else { Ok(()) },
                "madv_dontneed",
            ),
            1 => (
                MmapAdvise::MADV_POPULATE_READ,
                if pfn { Err(Errno::EINVAL) } else { Ok(()) },
                "madv_populate",
            ),
            2 if meta.writable => (
                MmapAdvise::MADV_POPULATE_WRITE,
                if pfn { Err(Errno::EINVAL) } else { Ok(()) },
                "madv_populate",
            ),
            3 => (
                MmapAdvise::MADV_DONTFORK,
                Ok(()),
                if (a, b) == (0, pages) {
                    "madv_dontfork"
                } else {
                    "madv_dontfork_part"
                },
            ),
            // Every node's VMAs are VM_DONTEXPAND, so VM_SPECIAL, which MADV_DOFORK refuses
            // before splitting anything.
            _ => (MmapAdvise::MADV_DOFORK, Err(Errno::EINVAL), "madv_dofork"),
        };
        let map = &self.maps[i].map;
        // SAFETY: Advice on pages `a..b` of a mapping this worker owns; none of it invalidates
        // memory that Rust code holds references into (mappings are only accessed by volatile
        // copies).
        let res = unsafe { madvise(addr(map).byte_add(a * ps), (b - a) * ps, advice) };
        check!(
            res == expected,
            "{advice:?} of pages {a}..{b} of {pages} on {}: {res:?}, expected {expected:?}",
            kind.name()
        );
        if advice == MmapAdvise::MADV_DONTNEED && self.own[meta.dev].contains(&(meta.first + a)) {
            // The zapped page faults back in from the device, shared or private: the zap
            // dropped the private copy.
            let got = map.read(a * ps);
            let dev = self.device_byte(meta.dev, meta.first + a, 0)?;
            check!(
                got == dev,
                "after MADV_DONTNEED the mapping shows {got:#x}, the device {dev:#x} (shared {})",
                meta.shared
            );
        }
        if advice == MmapAdvise::MADV_DONTFORK {
            let (head, mut part, tail) = carve(self.maps.swap_remove(i), a, b);
            part.meta.dontfork = true;
            part.history += " made MADV_DONTFORK";
            self.maps.extend(head.into_iter().chain([part]).chain(tail));
        }
        on(meta.dev, what)
    }

    /// Where page `p` of mapping `i` really is in its device: writes a marker through the
    /// mapping and looks for it with `read()`. For a failure's message only.
    fn where_mapped(&self, i: usize, p: usize) -> Result<String, String> {
        let (ps, m) = (self.ps, &self.maps[i]);
        let marker = *b"vmdev!\x5a\xa5";
        m.map.write_bytes(p * ps, &marker);
        let pages = self.devs[m.meta.dev].pages;
        let mut buf = vec![0u8; marker.len()];
        let found: Vec<String> = (0..pages)
            .filter(|&q| {
                pread(&self.check[m.meta.dev], &mut buf, (q * ps) as i64).is_ok() && buf == marker
            })
            .map(|q| q.to_string())
            .collect();
        Ok(if found.is_empty() {
            "a marker written there is in no page of the device".into()
        } else {
            format!(
                "a marker written there is in file page(s) {}",
                found.join(", ")
            )
        })
    }

    /// Which buffer device `d` maps: the remap and huge nodes map the same one.
    fn buffer(&self, d: usize) -> usize {
        match self.devs[d].device.kind {
            Kind::Remap | Kind::Huge => usize::MAX,
            Kind::Fault | Kind::Folio => d,
        }
    }

    /// Forks a child that reads one byte of every page of every mapping it inherited, checks
    /// those of the pages this worker owns, finds no page of the `MADV_DONTFORK` ones, and
    /// writes another byte of an owned page of each shared writable mapping. The parent then
    /// sees the child's writes, and every byte it checked before the fork unchanged.
    pub(super) fn fork_check(&mut self) -> Step {
        let ps = self.ps;
        // The byte checked in every page, and the one the child writes: never the same.
        let at = self.rng.random_range(0..ps);
        let write_at = (at + self.rng.random_range(1..ps)) % ps;
        let mut expected = Vec::new();
        let mut absent = Vec::new();
        for (i, m) in self.maps.iter().enumerate() {
            if m.meta.dontfork {
                absent.push(i);
                continue;
            }
            // Bytes no other worker writes, read now: they must be the child's too.
            let pages = self.owned_pages(m);
            let bytes = pages.clone().map(|p| m.map.read(p * ps + at)).collect();
            expected.push(Expected {
                map: i,
                pages,
                bytes,
            });
        }
        // One write per page of a buffer: two mappings of one page would overwrite each other.
        let mut written = BTreeSet::new();
        let mut targets: Vec<(usize, usize, u8)> = Vec::new();
        for e in &expected {
            let meta = self.maps[e.map].meta;
            if meta.shared && meta.writable && !e.pages.is_empty() {
                let p = self.rng.random_range(e.pages.clone());
                if written.insert((self.buffer(meta.dev), meta.first + p)) {
                    targets.push((e.map, p, self.rng.random()));
                }
            }
        }
        let report = {
            let len = NonZeroUsize::new(ps).ok_or("page size 0")?;
            let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
            // SAFETY: A new anonymous shared page at an address the kernel picks.
            let ptr = unsafe { mmap_anonymous(None, len, rw, MapFlags::MAP_SHARED) }
                .map_err(|e| format!("mmap of the child's report page: {e}"))?;
            // SAFETY: The page just mapped, owned by this function from now on.
            unsafe { Mapping::from_raw(ptr, ps) }
        };
        // SAFETY: The child only does volatile loads and stores on inherited mappings, mincore
        // and `_exit`; it allocates nothing and takes no lock another thread could hold.
        match unsafe { fork() }.map_err(|e| e.to_string())? {
            ForkResult::Child => {
                for e in &expected {
                    let m = &self.maps[e.map];
                    for p in 0..m.pages() {
                        let got = m.map.read(p * ps + at);
                        if e.pages.contains(&p) {
                            let want = e.bytes[p - e.pages.start];
                            if got != want {
                                let (i, p) = (e.map as u64, p as u64);
                                child_fails(&report, [BYTE_DIFFERS, i, p, got.into(), want.into()]);
                            }
                        }
                    }
                }
                let mut vec = [0u8; 1];
                for &i in &absent {
                    let m = &self.maps[i];
                    for p in [0, m.pages() - 1] {
                        let ptr = (m.map.addr() as usize + p * ps) as *mut c_void;
                        // SAFETY: mincore only writes `vec`, one byte for the one page asked.
                        let res = unsafe { libc::mincore(ptr, ps, vec.as_mut_ptr()) };
                        if res == 0 || Errno::last() != Errno::ENOMEM {
                            child_fails(&report, [DONTFORK_PRESENT, i as u64, p as u64, 0, 0]);
                        }
                    }
                }
                for &(i, p, v) in &targets {
                    self.maps[i].map.write(p * ps + write_at, v);
                }
                // SAFETY: Ends the child without running the parent's destructors or atexit.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).map_err(|e| e.to_string())?;
                let word = |k: usize| report.read_u64(8 * k);
                match status {
                    WaitStatus::Exited(_, 0) => {}
                    WaitStatus::Exited(_, 1) if word(0) == BYTE_DIFFERS => {
                        let m = &self.maps[word(1) as usize];
                        return Err(format!(
                            "a fork's child reads {:#x} at byte {at} of page {} of a {} mapping (file page {}, shared {}), {:#x} before the fork",
                            word(3),
                            word(2),
                            self.devs[m.meta.dev].device.name(),
                            m.meta.first + word(2) as usize,
                            m.meta.shared,
                            word(4)
                        ));
                    }
                    WaitStatus::Exited(_, 1) if word(0) == DONTFORK_PRESENT => {
                        let m = &self.maps[word(1) as usize];
                        return Err(format!(
                            "a fork's child has page {} of a {} mapping made MADV_DONTFORK",
                            word(2),
                            self.devs[m.meta.dev].device.name()
                        ));
                    }
                    other => return Err(format!("a fork's child ended with {other:?}")),
                }
            }
        }
        for e in &expected {
            let m = &self.maps[e.map];
            for (p, &want) in e.pages.clone().zip(&e.bytes) {
                let got = m.map.read(p * ps + at);
                check!(
                    got == want,
                    "after a fork the parent reads {got:#x} at byte {at} of page {p} of a {} mapping (file page {}), {want:#x} before",
                    self.devs[m.meta.dev].device.name(),
                    m.meta.first + p
                );
            }
        }
        for (i, p, v) in targets {
            let m = &self.maps[i];
            check!(
                m.map.read(p * ps + write_at) == v,
                "the child's write through a shared mapping is not seen"
            );
            let now = self.device_byte(m.meta.dev, m.meta.first + p, write_at)?;
            if now != v {
                return Err(format!(
                    "the child wrote {v:#x} at byte {write_at} of page {p} of a {} mapping, \
                     which the parent sees, but read() shows {now:#x} at file page {}; {}; \
                     the mapping: {}",
                    self.devs[m.meta.dev].device.name(),
                    m.meta.first + p,
                    self.where_mapped(i, p)?,
                    m.history
                ));
            }
        }
        Ok(Done {
            dev: None,
            kind: "fork",
        })
    }
}
