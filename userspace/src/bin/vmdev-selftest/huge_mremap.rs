//! mremap() of the 1 GiB range reserved at boot, mapped by one PUD entry (or by PMD entries on
//! a CPU without 1 GiB pages): every kind of move leaves no translation behind. The old range
//! has no VMA, an anonymous mapping placed there reads zeros and writes nothing to the device,
//! the new range refaults onto the device's bytes, and the kernel log says nothing (7.3.4's
//! `move_page_tables()` clears a PUD leaf as a "bad pud" with no TLB flush when the driver lets
//! one reach it).

use std::ffi::c_void;
use std::fs::File;
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{MRemapFlags, MapFlags, ProtFlags, mmap_anonymous, mremap, munmap};
use vmdev::mapping::Mapping;
use vmdev::maps::self_maps_entry;
use vmdev::uapi;

use crate::common::*;
use crate::harness::{Context, Device, Module, Outcome, TestResult, diag, ensure, test};

/// A kind of move: which part of the mapping moves, and where to.
#[derive(Clone, Copy, Debug)]
enum Move {
    /// The whole VMA, to another PUD-aligned address.
    WholeToPud,
    /// The whole VMA, to an address that is PMD- but not PUD-aligned.
    WholeToPmd,
    /// Its second half, to a PUD-aligned address (the VMA splits at the PUD entry's middle).
    HalfToPud,
}

impl Move {
    /// The offset in the mapping of the part that moves, and its length.
    fn part(self, len: usize) -> (usize, usize) {
        match self {
            Move::WholeToPud | Move::WholeToPmd => (0, len),
            Move::HalfToPud => (len / 2, len / 2),
        }
    }

    /// How far past a PUD boundary the part lands.
    fn phase(self) -> usize {
        match self {
            Move::WholeToPud | Move::HalfToPud => 0,
            Move::WholeToPmd => pmd_span(),
        }
    }
}

/// The offsets, in the device and in the mapping, the test writes, reads and checks: spread over
/// the GiB, in both halves.
fn probes(len: usize) -> [usize; 4] {
    [
        3 * ps() + 8,
        len / 4 + 5 * ps(),
        len / 2 + pmd_span() + 16,
        len - ps(),
    ]
}

test!(module: pud_range_mremap, Reload);
/// Each kind of mremap() of the 1 GiB range after a write through it (one PUD entry, or PMD
/// entries on a CPU without 1 GiB pages): the whole VMA to a PUD- and to a PMD-aligned address,
/// its second half to a PUD-aligned one; and `MREMAP_DONTUNMAP`, which the core refuses for a
/// PFN map (`EINVAL`). After each move the old range is unmapped and an anonymous mapping
/// placed there reads zeros and writes to itself alone; the new range reads the device's
/// bytes; no "bad pud" or other splat in the kernel log. Restores the default load.
fn pud_range_mremap(cx: &Context, m: &Module) -> TestResult {
    let huge = &cx.huge;
    let flags = huge.info()?.flags;
    if flags & (uapi::FLAG_HUGE_PUD | uapi::FLAG_HUGE_PMD) == 0 {
        return Ok(Outcome::Skip(format!(
            "this kernel maps neither PUD nor PMD entries of PFNs (vmdev_info.flags {flags:#x})"
        )));
    }
    let params = match pud_reservation()? {
        Ok(range) => range.params(),
        Err(skip) => return Ok(skip),
    };
    let mut kmsg = Kmsg::from_now()?;
    m.reload(&params)?;
    let result = (|| {
        let pud = pud_span();
        let file = huge.open(true)?;
        let live = huge.live_vmas()?;
        for (i, way) in [Move::WholeToPud, Move::WholeToPmd, Move::HalfToPud]
            .into_iter()
            .enumerate()
        {
            move_once(&file, pud, way, 80 + i as u8).map_err(|e| format!("{way:?}: {e}"))?;
            let now = huge.live_vmas()?;
            ensure!(now == live, "{way:?}: live_vmas {now} after, {live} before");
        }
        dontunmap_refused(huge, &file, pud)?;
        let bad: Vec<String> = kmsg
            .new_lines()
            .into_iter()
            .filter(|l| {
                ["bad pte", "bad pmd", "bad pud", "bad p4d", "bad pgd"]
                    .iter()
                    .any(|b| l.contains(b))
            })
            .collect();
        ensure!(bad.is_empty(), "the kernel log says: {bad:?}");
        Ok(Outcome::Pass)
    })();
    m.reload("")?;
    result
}

/// One move of `way`, with the device's probed bytes set to a pattern of `seed`.
fn move_once(file: &File, len: usize, way: Move, seed: u8) -> Result<(), String> {
    let probes = probes(len);
    for (i, &at) in probes.iter().enumerate() {
        pwrite(file, &[seed.wrapping_add(i as u8)], at).map_err(|e| e.to_string())?;
    }
    let map = map_congruent(file, len, RW, MapFlags::MAP_SHARED, 0, len)?;
    // One write through the mapping: a fault that maps the whole GiB (or its span).
    map.write(probes[0], seed);
    ensure!(
        pread(file, 1, probes[0])? == [seed],
        "the write through the mapping is lost"
    );
    // Every probe read through the mapping: each translation is now in the TLB.
    for &at in &probes {
        ensure!(
            map.read(at) == pread(file, 1, at)?[0],
            "byte {at:#x} reads wrong before the move"
        );
    }
    let (off, part) = way.part(len);
    // The target: a reservation aligned to a PUD span, with room for the phase.
    let zero = File::open("/dev/zero").map_err(|e| format!("/dev/zero: {e}"))?;
    let reserved = Mapping::aligned(
        zero.as_fd(),
        part + way.phase(),
        ProtFlags::PROT_NONE,
        MapFlags::MAP_PRIVATE,
        0,
        len,
    )
    .map_err(|e| format!("reserving {part:#x} bytes: {e}"))?;
    let (res, res_len) = reserved.into_raw();
    let (base, _) = map.into_raw();
    let old = base.as_ptr() as usize + off;
    let to = res.as_ptr() as usize + way.phase();
    let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED;
    // SAFETY: Moves part of the mapping this function owns onto the reservation it also owns.
    let moved = unsafe { mremap(ptr(old), part, part, flags, Some(ptr(to))) };
    let check = (|| {
        let new = moved.map_err(|e| format!("mremap({old:#x}, {part:#x}) to {to:#x}: {e}"))?;
        ensure!(
            new.as_ptr() as usize == to,
            "mremap returned {new:p}, asked for {to:#x}"
        );
        ensure!(
            self_maps_entry(old as u64).is_err(),
            "the old range is still mapped"
        );
        old_range_is_gone(file, old, part, off, &probes)?;
        for &at in probes.iter().filter(|&&at| (off..off + part).contains(&at)) {
            // SAFETY: The moved part, mapped and owned here.
            let got = unsafe { std::ptr::read_volatile((to + at - off) as *const u8) };
            ensure!(
                got == pread(file, 1, at)?[0],
                "byte {at:#x} reads {got:#x} at its new address"
            );
        }
        diag!("{way:?}: {part:#x} bytes from {old:#x} to {to:#x}: the old range reads nothing");
        Ok(())
    })();
    // SAFETY: Everything this function mapped: the part left in place (if any), and the
    // reservation with what mremap() moved onto it.
    unsafe {
        if off > 0 {
            let _ = munmap(base, off);
        }
        let _ = munmap(res, res_len);
        if moved.is_err() {
            let _ = munmap(ptr(old), part);
        }
    }
    check
}

/// The range `[old, old + len)`, which mapped the device from offset `off` before it moved, is
/// unmapped: an anonymous mapping placed there reads zeros at every probe and its writes stay in
/// it. A translation the move left in the TLB would read and write the device.
fn old_range_is_gone(
    file: &File,
    old: usize,
    len: usize,
    off: usize,
    probes: &[usize],
) -> Result<(), String> {
    let nz = NonZeroUsize::new(len).ok_or("empty range")?;
    let at = NonZeroUsize::new(old).ok_or("the old address is null")?;
    let flags = MapFlags::MAP_PRIVATE | MapFlags::MAP_FIXED_NOREPLACE;
    // SAFETY: The range has no mapping (checked by the caller); the new one is unmapped below.
    let anon = unsafe { mmap_anonymous(Some(at), nz, RW, flags) }
        .map_err(|e| format!("an anonymous mapping at the old address {old:#x}: {e}"))?;
    let result = (|| {
        ensure!(
            anon.as_ptr() as usize == old,
            "the anonymous mapping is at {anon:p}"
        );
        for &at in probes.iter().filter(|&&at| (off..off + len).contains(&at)) {
            let addr = (old + at - off) as *mut u8;
            let before = pread(file, 1, at)?[0];
            // SAFETY: Inside the anonymous mapping just made.
            let got = unsafe { std::ptr::read_volatile(addr) };
            ensure!(
                got == 0,
                "the old address of byte {at:#x} reads {got:#x}, not 0"
            );
            // SAFETY: As above.
            unsafe { std::ptr::write_volatile(addr, !before) };
            let now = pread(file, 1, at)?[0];
            ensure!(
                now == before,
                "a write to the old address of byte {at:#x} reached the device"
            );
        }
        Ok(())
    })();
    // SAFETY: The anonymous mapping made above, used by nothing else.
    unsafe { munmap(anon, len) }.map_err(|e| e.to_string())?;
    result
}

/// `MREMAP_DONTUNMAP` of the mapping: refused with `EINVAL` (the core's rule for `VM_PFNMAP`
/// and `VM_DONTEXPAND`), and the mapping is untouched.
fn dontunmap_refused(d: &Device, file: &File, len: usize) -> Result<(), String> {
    let map = map_congruent(file, len, RW, MapFlags::MAP_SHARED, 0, len)?;
    map.write(ps(), 0x3c);
    let live = d.live_vmas()?;
    let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_DONTUNMAP;
    // SAFETY: A move of the mapping this function owns; refused, it stays where it is.
    let res = unsafe { mremap(ptr(map.addr() as usize), len, len, flags, None) };
    expect_errno("mremap(MREMAP_DONTUNMAP)", res.map(|_| ()), Errno::EINVAL)?;
    ensure!(map.read(ps()) == 0x3c, "the mapping lost its byte");
    ensure!(d.live_vmas()? == live, "live_vmas changed");
    Ok(())
}

fn ptr(addr: usize) -> NonNull<c_void> {
    NonNull::new(addr as *mut c_void).expect("a mapping's address is not null")
}
