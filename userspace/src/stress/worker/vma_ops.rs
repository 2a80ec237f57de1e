//! The worker's operations that change its VMAs: munmap, mremap, mprotect, madvise, fork.

use std::ffi::c_void;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{
    MRemapFlags, MapFlags, MmapAdvise, ProtFlags, madvise, mmap_anonymous, mprotect, mremap, munmap,
};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use rand::Rng;

use super::{Map, Meta, Worker, addr};
use crate::device::Kind;
use crate::mapping::Mapping;

/// An anonymous `PROT_NONE` range of `len` bytes, for `MREMAP_FIXED` to replace.
fn reserve(len: usize) -> Result<NonNull<c_void>, String> {
    let len = std::num::NonZeroUsize::new(len).ok_or("empty reservation")?;
    // SAFETY: A new anonymous mapping at an address the kernel picks touches nothing else.
    unsafe { mmap_anonymous(None, len, ProtFlags::PROT_NONE, MapFlags::MAP_PRIVATE) }
        .map_err(|e| e.to_string())
}

impl Worker<'_> {
    pub(super) fn munmap_whole(&mut self) -> Result<&'static str, String> {
        if let Some(i) = self.pick_map() {
            self.maps.swap_remove(i);
        }
        Ok("munmap")
    }

    pub(super) fn munmap_part(&mut self) -> Result<&'static str, String> {
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

    pub(super) fn mremap(&mut self) -> Result<&'static str, String> {
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

    pub(super) fn mprotect(&mut self) -> Result<&'static str, String> {
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

    pub(super) fn madvise(&mut self) -> Result<&'static str, String> {
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

    pub(super) fn fork_touch(&mut self) -> Result<&'static str, String> {
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
}
