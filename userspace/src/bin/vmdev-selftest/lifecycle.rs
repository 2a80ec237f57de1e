//! VMA life cycle: how a mapping shows in /proc, and what splitting, shrinking, moving,
//! closing the fd and exiting do to it and to `live_vmas`.

use std::ffi::c_void;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::ptr::NonNull;

use nix::sys::mman::{MRemapFlags, MapFlags, ProtFlags, mmap_anonymous, mremap, munmap};
use vmdev::mapping::Mapping;
use vmdev::maps::{self_maps_entry, self_smaps_entry};

use crate::common::*;
use crate::harness::{Context, Device, Kind, Outcome, TestResult, ensure, test};

test!(remap huge fault folio: maps_line_is_exact);
fn maps_line_is_exact(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let st = std::fs::metadata(&d.path).map_err(|e| e.to_string())?;
    let off = 2 * ps();
    let m = shared(&f, 3 * ps(), off)?;
    let e = self_maps_entry(m.addr())?;
    ensure!(
        e.start == m.addr() && e.end == m.addr() + 3 * ps() as u64,
        "range {:#x}-{:#x}, mapped {:#x}+{:#x}",
        e.start,
        e.end,
        m.addr(),
        3 * ps()
    );
    ensure!(e.perms == "rw-s", "perms {}, expected rw-s", e.perms);
    ensure!(
        e.offset == off as u64,
        "offset {:#x}, expected the mmap offset {off:#x}",
        e.offset
    );
    let (major, minor) = (libc::major(st.dev()), libc::minor(st.dev()));
    ensure!(
        (e.major, e.minor) == (major, minor),
        "dev {:x}:{:x}, the node's st_dev is {major:x}:{minor:x}",
        e.major,
        e.minor
    );
    ensure!(
        e.inode == st.ino(),
        "inode {}, the node's st_ino is {}",
        e.inode,
        st.ino()
    );
    ensure!(
        Path::new(&e.path) == d.path,
        "path {:?}, expected {}",
        e.path,
        d.path.display()
    );
    let parent_line = e.clone();
    child_ok(move || {
        let e = self_maps_entry(parent_line.start)?;
        ensure!(
            e == parent_line,
            "the child's line {e:?} differs from the parent's {parent_line:?}"
        );
        Ok(())
    })?;
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: smaps_vmflags);
/// The VMA's flags; on the two VM_PFNMAP nodes, Rss stays 0 once touched (their frames are not
/// counted as pages, whatever the size of the entries that map them); on the folio node, whose
/// pages are ordinary refcounted pages (neither VM_PFNMAP nor VM_MIXEDMAP), Rss counts every
/// page of the buffer once touched, whether a PMD entry or PTEs map it.
fn smaps_vmflags(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    let s = self_smaps_entry(m.addr())?;
    let (must, must_not): (&[&str], &[&str]) = match d.kind {
        Kind::Remap | Kind::Huge => (&["io", "pf", "de", "dd"], &["mm"]),
        Kind::Fault => (&["de", "dd"], &["io", "pf"]),
        Kind::Folio => (&["de", "dd"], &["io", "pf", "mm"]),
    };
    for flag in must {
        ensure!(s.has_flag(flag), "VmFlags {:?} lacks {flag}", s.vm_flags);
    }
    for flag in must_not {
        ensure!(!s.has_flag(flag), "VmFlags {:?} has {flag}", s.vm_flags);
    }
    if d.kind != Kind::Fault {
        let whole = shared(&f, d.size()?, 0)?;
        for i in (0..whole.len()).step_by(ps()) {
            whole.write(i, whole.read(i));
        }
        let rss = rss_pages(&whole)?;
        let want = if d.kind.pfnmap() {
            0
        } else {
            (whole.len() / ps()) as u64
        };
        ensure!(
            rss == want,
            "Rss {rss} pages after touching every page, expected {want}"
        );
    }
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: munmap_middle_splits);
fn munmap_middle_splits(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let base = d.live_vmas()?;
    let m = shared(&f, 3 * ps(), 0)?;
    m.write_bytes(0, &[1]);
    m.write_bytes(2 * ps(), &[3]);
    ensure!(
        d.live_vmas()? == base + 1,
        "one mapping, live_vmas {} from {base}",
        d.live_vmas()?
    );
    let (ptr, _) = m.into_raw();
    // SAFETY: `ptr + 1 page` is the middle page of the mapping this function owns.
    unsafe { munmap(ptr.byte_add(ps()), ps()) }.map_err(|e| format!("munmap(middle): {e}"))?;
    // SAFETY: The first and last pages are still mapped; these objects own them from now on.
    let (head, tail) = unsafe {
        (
            Mapping::from_raw(ptr, ps()),
            Mapping::from_raw(ptr.byte_add(2 * ps()), ps()),
        )
    };
    ensure!(
        d.live_vmas()? == base + 2,
        "after the split live_vmas is {}, expected {}",
        d.live_vmas()?,
        base + 2
    );
    ensure!(
        head.read(0) == 1 && tail.read(0) == 3,
        "the two halves lost their contents"
    );
    let e = self_maps_entry(tail.addr())?;
    ensure!(
        e.offset == 2 * ps() as u64,
        "the tail VMA has offset {:#x}, expected {:#x}",
        e.offset,
        2 * ps()
    );
    drop(head);
    ensure!(
        d.live_vmas()? == base + 1,
        "live_vmas {} after unmapping the head",
        d.live_vmas()?
    );
    drop(tail);
    ensure!(
        d.live_vmas()? == base,
        "live_vmas {} after unmapping all, was {base}",
        d.live_vmas()?
    );
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: mremap_shrink);
fn mremap_shrink(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let base = d.live_vmas()?;
    let m = shared(&f, 4 * ps(), 0)?;
    m.write(0, 0x11);
    let (ptr, _) = m.into_raw();
    // SAFETY: Shrinking in place a mapping this function owns.
    let new = unsafe { mremap(ptr, 4 * ps(), ps(), MRemapFlags::empty(), None) }
        .map_err(|e| format!("mremap shrink: {e}"))?;
    // SAFETY: `new` is the shrunk mapping, owned from now on.
    let m = unsafe { Mapping::from_raw(new, ps()) };
    ensure!(
        new == ptr && m.read(0) == 0x11,
        "the shrunk mapping moved or lost its contents"
    );
    ensure!(
        self_maps_entry(m.addr())?.end == m.addr() + ps() as u64,
        "maps still shows the old length"
    );
    ensure!(
        d.live_vmas()? == base + 1,
        "live_vmas {} after shrinking, expected {}",
        d.live_vmas()?,
        base + 1
    );
    drop(m);
    ensure!(d.live_vmas()? == base, "live_vmas not back to {base}");
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: mremap_grow_fails);
fn mremap_grow_fails(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    let ptr = NonNull::new(m.addr() as *mut c_void).ok_or("null mapping")?;
    for flags in [MRemapFlags::empty(), MRemapFlags::MREMAP_MAYMOVE] {
        // SAFETY: The kernel must refuse to grow a VM_DONTEXPAND mapping; nothing changes.
        let res = unsafe { mremap(ptr, ps(), 2 * ps(), flags, None) };
        ensure!(
            res.is_err(),
            "mremap({flags:?}) grew a VM_DONTEXPAND mapping"
        );
    }
    ensure!(
        self_maps_entry(m.addr())?.end == m.addr() + ps() as u64,
        "the failed growth changed the VMA"
    );
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: mremap_move_keeps_contents);
fn mremap_move_keeps_contents(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let base = d.live_vmas()?;
    let m = shared(&f, 2 * ps(), 4 * ps())?;
    let data = pattern(33, 2 * ps());
    m.write_bytes(0, &data);
    let target = Reservation::reserve(2 * ps())?;
    let (ptr, len) = m.into_raw();
    let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED;
    // SAFETY: Moving a mapping this function owns onto a reservation it also owns.
    let new = unsafe { mremap(ptr, len, len, flags, Some(target.ptr)) }
        .map_err(|e| format!("mremap move: {e}"))?;
    target.forget();
    // SAFETY: `new` is the moved mapping, owned from now on.
    let moved = unsafe { Mapping::from_raw(new, len) };
    ensure!(
        moved.addr() != ptr.as_ptr() as u64,
        "the mapping did not move"
    );
    ensure!(
        moved.read_bytes(0, len) == data,
        "the moved mapping lost its contents"
    );
    let e = self_maps_entry(moved.addr())?;
    ensure!(
        e.offset == 4 * ps() as u64,
        "the moved VMA has offset {:#x}",
        e.offset
    );
    ensure!(
        self_maps_entry(ptr.as_ptr() as u64).is_err(),
        "the old range is still mapped"
    );
    ensure!(
        d.live_vmas()? == base + 1,
        "live_vmas {} after the move, expected {}",
        d.live_vmas()?,
        base + 1
    );
    drop(moved);
    ensure!(d.live_vmas()? == base, "live_vmas not back to {base}");
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: mremap_dontunmap_einval);
/// MREMAP_DONTUNMAP, which moves private anonymous memory (checked first), is refused on the
/// nodes' mappings (VM_DONTEXPAND, and VM_PFNMAP on two of them): EINVAL, the mapping as it was.
fn mremap_dontunmap_einval(_cx: &Context, d: &Device) -> TestResult {
    let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_DONTUNMAP;
    let anon = Reservation::reserve(ps())?;
    // SAFETY: Moves a private anonymous mapping this function owns; the new one is unmapped
    // below, the old range stays the reservation's.
    let moved = unsafe { mremap(anon.ptr, ps(), ps(), flags, None) }
        .map_err(|e| format!("MREMAP_DONTUNMAP of private anonymous memory: {e}"))?;
    // SAFETY: The new mapping mremap made, owned here.
    drop(unsafe { Mapping::from_raw(moved, ps()) });
    let f = d.open(true)?;
    let m = shared(&f, 2 * ps(), 0)?;
    m.write(0, 0x3a);
    let ptr = NonNull::new(m.addr() as *mut c_void).ok_or("null mapping")?;
    // SAFETY: The kernel must refuse; nothing changes.
    let res = unsafe { mremap(ptr, 2 * ps(), 2 * ps(), flags, None) };
    expect_errno("MREMAP_DONTUNMAP", res, nix::errno::Errno::EINVAL)?;
    let e = self_maps_entry(m.addr())?;
    ensure!(
        e.start == m.addr() && e.end == m.addr() + 2 * ps() as u64 && m.read(0) == 0x3a,
        "the refused mremap changed the mapping"
    );
    Ok(Outcome::Pass)
}

/// An anonymous `PROT_NONE` reservation, a target for `MREMAP_FIXED`.
struct Reservation {
    ptr: NonNull<c_void>,
    len: usize,
}

impl Reservation {
    fn reserve(len: usize) -> Result<Self, String> {
        let nz = std::num::NonZeroUsize::new(len).ok_or("empty reservation")?;
        // SAFETY: An anonymous mapping at an address the kernel picks touches nothing else.
        let ptr = unsafe { mmap_anonymous(None, nz, ProtFlags::PROT_NONE, MapFlags::MAP_PRIVATE) }
            .map_err(|e| e.to_string())?;
        Ok(Self { ptr, len })
    }

    /// The range was replaced (by `MREMAP_FIXED`): nothing to unmap.
    fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // SAFETY: The reservation is owned by this object.
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

test!(remap huge fault folio: close_fd_keeps_mapping);
fn close_fd_keeps_mapping(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    drop(f);
    m.write(5, 0x99);
    ensure!(
        m.read(5) == 0x99,
        "the mapping stopped working after close(fd)"
    );
    let f = d.open(true)?;
    ensure!(
        pread(&f, 1, 5)? == [0x99],
        "the write after close(fd) did not reach the device"
    );
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: exit_releases_vmas);
fn exit_releases_vmas(_cx: &Context, d: &Device) -> TestResult {
    let base = d.live_vmas()?;
    let dev = d.clone();
    child_ok(move || {
        let f = dev.open(true)?;
        // Mappings the child never unmaps: exit must close them.
        for i in 0..3 {
            shared(&f, ps(), i * ps())?.into_raw();
        }
        let live = dev.live_vmas()?;
        ensure!(
            live == base + 3,
            "three mappings, live_vmas {live} from {base}"
        );
        Ok(())
    })?;
    let live = d.live_vmas()?;
    ensure!(
        live == base,
        "live_vmas {live} after the child exited, was {base}"
    );
    Ok(Outcome::Pass)
}
