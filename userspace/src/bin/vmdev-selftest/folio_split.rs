//! The folio node's PMD entries split, moved and forked. A file VMA's PMD entry that a split
//! cuts (mprotect, munmap or mremap of part of its span) is zapped, not remapped by PTEs
//! (`__split_huge_pmd_locked()` drops the folio's reference and rmap entry), so the span's pages
//! refault one PTE each, while the spans the cut misses keep theirs; mremap() to an address
//! congruent to the offset moves the entries whole. fork() copies no entry of a shared VMA
//! (`vma_needs_copy()`): the child refaults. A write to a private mapping copies one page (the
//! driver falls back from the PMD entry, the core splits it). The tools: `folio_path`.

use std::ffi::c_void;
use std::fs::File;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{MRemapFlags, MapFlags, MmapAdvise, ProtFlags, mprotect, mremap, munmap};
use nix::sys::signal::Signal;
use vmdev::frames::{kpagecounts, kpageflags, pagemap_frames};
use vmdev::mapping::Mapping;
use vmdev::maps::self_maps_entry;

use crate::common::*;
use crate::folio_path::{
    Counts, Pmd, counted, device_frames, expect_counts, fill, folio_map, folios_or_skip,
    pmd_mapped, shows_device, span_pages, touch,
};
use crate::harness::{Context, Device, Outcome, TestResult, diag, ensure, test};

/// Folios 0 and 1 filled with a pattern, and a shared mapping of both placed for PMD entries.
fn two_folios(d: &Device, seed: u8) -> Result<(File, Mapping), String> {
    let f = d.open(true)?;
    fill(&f, seed, 0, 2 * pmd_span())?;
    let m = folio_map(&f, 2 * pmd_span(), RW, MapFlags::MAP_SHARED, 0)?;
    Ok((f, m))
}

/// The first read of page 0 of each folio of a [`two_folios`] mapping.
fn read_both(d: &Device, pmd: &Pmd, m: &Mapping) -> Result<(), String> {
    let got = touch(d, m, [0, span_pages()], false)?;
    expect_counts(
        "a first read of each folio",
        got,
        pmd.span_touch().plus(pmd.span_touch()),
    )
}

/// Fails unless each of `count` frames from `pfn` has kpagecount `want`.
fn all_counted(pfn: u64, count: usize, want: u64, what: &str) -> Result<(), String> {
    let counts = kpagecounts(pfn, count)?;
    if let Some(i) = counts.iter().position(|&c| c != want) {
        return Err(format!(
            "{what}: frame {:#x} (page {i}) has kpagecount {}, expected {want}",
            pfn + i as u64,
            counts[i]
        ));
    }
    Ok(())
}

/// The address of page `page` of `m`.
fn page_ptr(m: &Mapping, page: usize) -> Result<NonNull<c_void>, String> {
    NonNull::new((m.addr() as usize + page * ps()) as *mut c_void).ok_or("null address".into())
}

test!(folio: mprotect_splits_pmd);
/// mprotect(PROT_READ) of one page inside folio 0, mapped by a PMD entry: three VMAs; folio 0's
/// entry is gone (no `FilePmdMapped` where it was, kpagecount 0 on its frames) and its pages
/// refault one PTE each, on the same frames, while folio 1 keeps its entry; the bytes on both
/// sides are the device's, a write to the read-only page is SIGSEGV, one after it lands.
fn mprotect_splits_pmd(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, sp, p) = (pmd_span(), span_pages(), ps());
    let base = d.live_vmas()?;
    let (f, m) = two_folios(d, 85)?;
    read_both(d, &pmd, &m)?;
    let ro = sp / 4;
    // SAFETY: One page of the mapping this test owns, accessed only by volatile reads from now
    // on (and a write in a child, which must die of it).
    unsafe { mprotect(page_ptr(&m, ro)?, p, ProtFlags::PROT_READ) }
        .map_err(|e| format!("mprotect(page {ro}, PROT_READ): {e}"))?;
    let live = d.live_vmas()?;
    ensure!(
        live == base + 3,
        "live_vmas {live} after mprotect, expected {}",
        base + 3
    );
    let frames = device_frames(d, 0, 2 * sp)?;
    let span1 = m.addr() + span as u64;
    if pmd.on {
        all_counted(frames[0], sp, 0, "folio 0 after the split")?;
        let (head, mid, tail) = (
            pmd_mapped(m.addr())?,
            pmd_mapped(m.addr() + (ro * p) as u64)?,
            pmd_mapped(span1)?,
        );
        ensure!(
            head == 0 && mid == 0 && tail == span as u64,
            "FilePmdMapped of the three VMAs: {head:#x}, {mid:#x}, {tail:#x}; expected 0, 0 and \
             folio 1's {span:#x}"
        );
    }
    let got = touch(d, &m, 0..sp, false)?;
    let want = Counts::ptes(if pmd.on { sp } else { sp - 1 });
    expect_counts("reads of every page of folio 0", got, want)?;
    all_counted(frames[0], sp, 1, "folio 0 refaulted")?;
    let now: Vec<Option<u64>> = pagemap_frames(m.addr(), sp)?;
    ensure!(
        now.iter().zip(&frames).all(|(n, f)| *n == Some(*f)),
        "folio 0's pages refaulted on other frames than the folio's"
    );
    ensure!(
        pmd_mapped(m.addr())? == 0,
        "folio 0's pages refaulted by a PMD entry"
    );
    let got = touch(d, &m, sp..2 * sp, false)?;
    let want = if pmd.on {
        Counts::NONE
    } else {
        Counts::ptes(sp - 1)
    };
    expect_counts("reads of every page of folio 1", got, want)?;
    shows_device(&m, &f, 0, "after the split")?;
    let at = ro * p + 1;
    let before = pread(&f, 1, at)?;
    child_killed_by(Signal::SIGSEGV, || m.write(at, !before[0]))?;
    ensure!(
        pread(&f, 1, at)? == before,
        "the refused write reached the device"
    );
    m.write(at + p, 0x12);
    ensure!(
        pread(&f, 1, at + p)? == [0x12],
        "a write after the read-only page did not reach the device"
    );
    drop(m);
    ensure!(d.live_vmas()? == base, "live_vmas not back to {base}");
    pmd.note();
    Ok(Outcome::Pass)
}

test!(folio: munmap_part_splits_pmd);
/// munmap() of one page in the middle of folio 0, mapped by a PMD entry: two VMAs; folio 0's
/// entry is gone, its other pages refault one PTE each, the hole's frame stays unmapped
/// (kpagecount 0), folio 1 keeps its entry; both halves show the device's bytes.
fn munmap_part_splits_pmd(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, sp, p) = (pmd_span(), span_pages(), ps());
    let base = d.live_vmas()?;
    let (f, m) = two_folios(d, 86)?;
    read_both(d, &pmd, &m)?;
    let hole = sp / 2;
    let (ptr, _) = m.into_raw();
    // SAFETY: Page `hole` of the mapping this test owns.
    unsafe { munmap(ptr.byte_add(hole * p), p) }
        .map_err(|e| format!("munmap(page {hole}): {e}"))?;
    // SAFETY: The pages before and after the hole are still mapped; these own them from now on.
    let (head, tail) = unsafe {
        (
            Mapping::from_raw(ptr, hole * p),
            Mapping::from_raw(ptr.byte_add((hole + 1) * p), 2 * span - (hole + 1) * p),
        )
    };
    let live = d.live_vmas()?;
    ensure!(
        live == base + 2,
        "live_vmas {live} after the split, expected {}",
        base + 2
    );
    let frames = device_frames(d, 0, 2 * sp)?;
    if pmd.on {
        all_counted(frames[0], sp, 0, "folio 0 after the split")?;
        let (h, t) = (pmd_mapped(head.addr())?, pmd_mapped(tail.addr())?);
        ensure!(
            h == 0 && t == span as u64,
            "FilePmdMapped of the two VMAs: {h:#x}, {t:#x}; expected 0 and folio 1's {span:#x}"
        );
    }
    // Without PMD entries page 0 was mapped by the first read, and stays.
    let got = touch(d, &head, 0..hole, false)?;
    let want = Counts::ptes(if pmd.on { hole } else { hole - 1 });
    expect_counts("reads of folio 0's pages before the hole", got, want)?;
    let after = sp - hole - 1;
    let got = touch(d, &tail, 0..after, false)?;
    expect_counts(
        "reads of folio 0's pages after the hole",
        got,
        Counts::ptes(after),
    )?;
    let got = touch(d, &tail, after..after + sp, false)?;
    let want = if pmd.on {
        Counts::NONE
    } else {
        Counts::ptes(sp - 1)
    };
    expect_counts("reads of every page of folio 1", got, want)?;
    let counts = kpagecounts(frames[0], sp)?;
    ensure!(
        counts
            .iter()
            .enumerate()
            .all(|(i, &c)| c == u64::from(i != hole)),
        "folio 0's kpagecounts {counts:?}: expected 1 but 0 for the hole, page {hole}"
    );
    shows_device(&head, &f, 0, "the head")?;
    shows_device(&tail, &f, (hole + 1) * p, "the tail")?;
    drop((head, tail));
    ensure!(d.live_vmas()? == base, "live_vmas not back to {base}");
    pmd.note();
    Ok(Outcome::Pass)
}

/// mremap(MREMAP_FIXED) of all of `m` onto `target` (a reservation of the same length, owned
/// by the caller and replaced); the moved mapping.
fn move_onto(m: Mapping, target: Mapping) -> Result<Mapping, String> {
    let (to, _) = target.into_raw();
    let (from, len) = m.into_raw();
    let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED;
    // SAFETY: Moves a mapping the caller owned onto a reservation it also owned.
    match unsafe { mremap(from, len, len, flags, Some(to)) } {
        Ok(new) => {
            // SAFETY: The moved mapping, owned from now on.
            let moved = unsafe { Mapping::from_raw(new, len) };
            ensure!(new == to, "mremap returned {new:p}, asked for {to:p}");
            ensure!(
                self_maps_entry(from.as_ptr() as u64).is_err(),
                "the old range is still mapped"
            );
            Ok(moved)
        }
        Err(e) => {
            // SAFETY: Both are still mapped and owned here; dropping unmaps them.
            drop(unsafe { (Mapping::from_raw(from, len), Mapping::from_raw(to, len)) });
            Err(format!("mremap to {to:p}: {e}"))
        }
    }
}

/// A `PROT_NONE` reservation of `len` bytes at an address `phase` past a multiple of a PMD
/// span, for a move.
fn reservation(len: usize, phase: usize) -> Result<Mapping, String> {
    let zero = File::open("/dev/zero").map_err(|e| format!("/dev/zero: {e}"))?;
    let flags = MapFlags::MAP_PRIVATE;
    Mapping::at_phase(
        &zero,
        len,
        ProtFlags::PROT_NONE,
        flags,
        0,
        pmd_span(),
        phase,
    )
    .map_err(|e| format!("reserving {len:#x} bytes at phase {phase:#x}: {e}"))
}

test!(folio: mremap_moves_pmd);
/// mremap() of a mapping of two folios, both mapped by PMD entries: to another span-aligned
/// address the entries move with it (touching every page again takes at most one fault per
/// folio, each a PMD entry, and smaps shows both PMD-mapped); on to an address a page past a
/// span boundary, where no span of the file can line up with one of the address space, they are
/// zapped and every page refaults by PTE. The bytes come along each time.
fn mremap_moves_pmd(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, sp, len) = (pmd_span(), span_pages(), 2 * pmd_span());
    let base = d.live_vmas()?;
    let (f, m) = two_folios(d, 87)?;
    let got = touch(d, &m, 0..2 * sp, false)?;
    let want = if pmd.on {
        Counts::pmds(2)
    } else {
        Counts::ptes(2 * sp)
    };
    expect_counts("a first read of every page", got, want)?;
    let moved = move_onto(m, reservation(len, 0)?)?;
    ensure!(
        d.live_vmas()? == base + 1,
        "live_vmas {} after the move",
        d.live_vmas()?
    );
    let got = touch(d, &moved, 0..2 * sp, false)?;
    if pmd.on {
        ensure!(
            got.faults <= 2 && got.around == got.faults * (sp as u64 - 1),
            "reads of every page after the aligned move: {got}; expected at most 2 faults, \
             each a PMD entry"
        );
        let pmd_bytes = pmd_mapped(moved.addr())?;
        ensure!(
            pmd_bytes == len as u64,
            "FilePmdMapped {pmd_bytes:#x} after the aligned move, expected {len:#x}"
        );
    } else {
        ensure!(got.around == 0, "PTE faults mapped more: {got}");
    }
    shows_device(&moved, &f, 0, "after the aligned move")?;
    diag!("touching every page after the aligned move: {got}");
    let p = ps();
    let moved = move_onto(moved, reservation(len, p)?)?;
    ensure!(
        moved.addr() as usize % span == p,
        "moved to {:#x}",
        moved.addr()
    );
    let got = touch(d, &moved, 0..2 * sp, false)?;
    if pmd.on {
        expect_counts(
            "reads of every page after the move a page past a span boundary",
            got,
            Counts::ptes(2 * sp),
        )?;
    } else {
        ensure!(got.around == 0, "PTE faults mapped more: {got}");
    }
    let pmd_bytes = pmd_mapped(moved.addr())?;
    ensure!(
        pmd_bytes == 0,
        "FilePmdMapped {pmd_bytes:#x} at an address no folio lines up with"
    );
    shows_device(&moved, &f, 0, "after the unaligned move")?;
    ensure!(
        d.live_vmas()? == base + 1,
        "live_vmas {} after the second move",
        d.live_vmas()?
    );
    drop(moved);
    ensure!(d.live_vmas()? == base, "live_vmas not back to {base}");
    pmd.note();
    Ok(Outcome::Pass)
}

test!(folio: mremap_shrink_keeps_whole_spans);
/// mremap() shrinking a mapping of two PMD-mapped folios to folio 0 and three pages of folio 1:
/// folio 0 keeps its entry (touching it takes no fault), folio 1's is zapped (its frames
/// unmapped) and its three pages left refault by PTE; the bytes stay the device's.
fn mremap_shrink_keeps_whole_spans(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, sp, p) = (pmd_span(), span_pages(), ps());
    let (f, m) = two_folios(d, 88)?;
    read_both(d, &pmd, &m)?;
    let (ptr, len) = m.into_raw();
    let keep = span + 3 * p;
    // SAFETY: Shrinking in place a mapping this test owns: its tail is unmapped.
    let new = unsafe { mremap(ptr, len, keep, MRemapFlags::empty(), None) }
        .map_err(|e| format!("mremap shrink: {e}"))?;
    // SAFETY: The shrunk mapping, owned from now on.
    let m = unsafe { Mapping::from_raw(new, keep) };
    ensure!(new == ptr, "the shrink moved the mapping");
    let frames = device_frames(d, 0, 2 * sp)?;
    if pmd.on {
        let pmd_bytes = pmd_mapped(m.addr())?;
        ensure!(
            pmd_bytes == span as u64,
            "FilePmdMapped {pmd_bytes:#x} after the shrink, expected folio 0's {span:#x}"
        );
        all_counted(frames[sp], sp, 0, "folio 1 after the shrink")?;
    }
    let got = touch(d, &m, 0..sp, false)?;
    let want = if pmd.on {
        Counts::NONE
    } else {
        Counts::ptes(sp - 1)
    };
    expect_counts("reads of every page of folio 0", got, want)?;
    let got = touch(d, &m, sp..sp + 3, false)?;
    let want = Counts::ptes(if pmd.on { 3 } else { 2 });
    expect_counts("reads of the three pages of folio 1 left", got, want)?;
    let counts = kpagecounts(frames[sp], sp)?;
    ensure!(
        counts
            .iter()
            .enumerate()
            .all(|(i, &c)| c == u64::from(i < 3)),
        "folio 1's kpagecounts {counts:?}: expected 1 for the three pages mapped, 0 after"
    );
    shows_device(&m, &f, 0, "after the shrink")?;
    pmd.note();
    Ok(Outcome::Pass)
}

test!(folio: dontfork_span_child_has_none);
/// MADV_DONTFORK of folio 1's whole span, PMD-mapped: the VMA splits at the span boundary, which
/// cuts no entry (both folios stay PMD-mapped); a forked child has folio 0's VMA, with no entry
/// (its first read refaults the folio), and nothing where folio 1 was: no VMA, mincore ENOMEM,
/// SIGSEGV on a touch.
fn dontfork_span_child_has_none(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let span = pmd_span();
    let base = d.live_vmas()?;
    let (f, m) = two_folios(d, 89)?;
    read_both(d, &pmd, &m)?;
    madvise_range(&m, span, span, MmapAdvise::MADV_DONTFORK)
        .map_err(|e| format!("MADV_DONTFORK of folio 1: {e}"))?;
    let live = d.live_vmas()?;
    ensure!(
        live == base + 2,
        "live_vmas {live} after MADV_DONTFORK of folio 1, expected {}",
        base + 2
    );
    let span1 = m.addr() + span as u64;
    if pmd.on {
        let (a, b) = (pmd_mapped(m.addr())?, pmd_mapped(span1)?);
        ensure!(
            a == span as u64 && b == span as u64,
            "FilePmdMapped {a:#x} and {b:#x} after MADV_DONTFORK at the span boundary, \
             expected {span:#x} each"
        );
    }
    child_ok(|| {
        let now = d.live_vmas()?;
        ensure!(
            now == live + 1,
            "the child's live_vmas {now}: expected its parent's {live} and folio 0's VMA"
        );
        ensure!(
            self_maps_entry(m.addr()).is_ok() && self_maps_entry(span1).is_err(),
            "the child's VMAs: folio 0's {:?}, folio 1's {:?}",
            self_maps_entry(m.addr()).map(|e| (e.start, e.end)),
            self_maps_entry(span1).map(|e| (e.start, e.end))
        );
        let mut vec = [0u8; 1];
        // SAFETY: mincore writes one byte for the one page asked.
        let res = unsafe { libc::mincore(span1 as *mut c_void, ps(), vec.as_mut_ptr()) };
        ensure!(
            res != 0 && Errno::last() == Errno::ENOMEM,
            "mincore of folio 1 in the child: {res}, expected ENOMEM"
        );
        let got = touch(d, &m, [1], false)?;
        expect_counts("the child's first read of folio 0", got, pmd.span_touch())?;
        let want = pread(&f, span, 0)?;
        ensure!(
            m.read_bytes(0, span) == want,
            "the child's folio 0 shows other bytes than the device"
        );
        Ok(())
    })?;
    // SAFETY: The child reads an address its address space does not have; it dies.
    child_killed_by(Signal::SIGSEGV, || unsafe {
        (span1 as *const u8).read_volatile();
    })?;
    if pmd.on {
        let b = pmd_mapped(span1)?;
        ensure!(
            b == span as u64,
            "the parent's folio 1: FilePmdMapped {b:#x}"
        );
    }
    shows_device(&m, &f, 0, "the parent's mapping after the forks")?;
    pmd.note();
    Ok(Outcome::Pass)
}

test!(folio: fork_shared_child_refaults);
/// MAP_SHARED across fork(): the child has no entry of its parent's (fork copies none of a
/// shared VMA's): its first read of folio 0 refaults it, after which the folio's pages are
/// mapped twice (kpagecount 2, once again after the child exits); it sees the device's bytes,
/// and its writes reach the parent and the device.
fn fork_shared_child_refaults(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, sp) = (pmd_span(), span_pages());
    let (f, m) = two_folios(d, 90)?;
    let got = touch(d, &m, [0], false)?;
    expect_counts("the parent's first read of folio 0", got, pmd.span_touch())?;
    let frames = device_frames(d, 0, sp)?;
    child_ok(|| {
        let got = touch(d, &m, [3], false)?;
        expect_counts(
            "the child's first read of folio 0 (a page its parent's entry maps)",
            got,
            pmd.span_touch(),
        )?;
        if pmd.on {
            all_counted(frames[0], sp, 2, "folio 0 mapped by parent and child")?;
        }
        shows_device(&m, &f, 0, "the child's mapping")?;
        m.write(7, 0xc1);
        m.write(span + 9, 0xc2);
        Ok(())
    })?;
    ensure!(
        m.read(7) == 0xc1 && pread(&f, 1, 7)? == [0xc1],
        "the child's write to folio 0 is not seen by the parent or the device"
    );
    ensure!(
        pread(&f, 1, span + 9)? == [0xc2] && m.read(span + 9) == 0xc2,
        "the child's write to folio 1 is not seen by the device or the parent"
    );
    if pmd.on {
        all_counted(frames[0], sp, 1, "folio 0 after the child exited")?;
    }
    pmd.note();
    Ok(Outcome::Pass)
}

test!(folio: fork_private_cow);
/// MAP_PRIVATE is copy-on-write: a read maps the device's folio (by a PMD entry where it fits);
/// a write before fork() copies one page (an anonymous frame, not the folio's; the entry
/// zapped, the driver's fault called once for the copy's source) and leaves the device as it
/// was; the child inherits that copy, and its own writes reach neither its parent nor the
/// device; the parent's writes after fork() reach neither the device nor a later child's view
/// of what it had before.
fn fork_private_cow(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, p) = (pmd_span(), ps());
    let f = d.open(true)?;
    let data = fill(&f, 91, 0, 2 * span)?;
    let m = folio_map(&f, 2 * span, RW, MapFlags::MAP_PRIVATE, 0)?;
    let got = touch(d, &m, [0], false)?;
    expect_counts("a first read of the private mapping", got, pmd.span_touch())?;
    let device = device_frames(d, 0, 4)?;
    ensure!(
        pagemap_frames(m.addr(), 1)? == [Some(device[0])],
        "the read did not map the device's page"
    );
    if pmd.on {
        ensure!(
            pmd_mapped(m.addr())? == span as u64,
            "the private read did not map folio 0 by a PMD entry"
        );
    }
    let (v1, v2, v3, v4) = (
        !data[3 * p],
        !data[5 * p],
        data[3 * p] ^ 0x55,
        !data[span + 7],
    );
    let got = counted(d, || {
        m.write(3 * p, v1);
        Ok(())
    })?;
    expect_counts("a private write before fork", got, Counts::ptes(1))?;
    let copy = pagemap_frames(m.addr() + (3 * p) as u64, 1)?[0].ok_or("page 3 not mapped")?;
    let flags = kpageflags(copy)?;
    ensure!(
        copy != device[3] && flags.anon(),
        "the written page is frame {copy:#x} ({}), the device's is {:#x}",
        flags.names(),
        device[3]
    );
    ensure!(
        pmd_mapped(m.addr())? == 0,
        "folio 0 is still PMD-mapped after a page of it was copied"
    );
    ensure!(
        pread(&f, 1, 3 * p)? == [data[3 * p]] && m.read(3 * p) == v1,
        "the private write reached the device, or is not seen"
    );
    child_ok(|| {
        ensure!(
            m.read(3 * p) == v1 && m.read(5 * p) == data[5 * p],
            "the child does not see its parent's private copy and the device's bytes"
        );
        m.write(5 * p, v2);
        m.write(3 * p, v3);
        ensure!(
            m.read(5 * p) == v2 && m.read(3 * p) == v3,
            "the child does not see its own writes"
        );
        Ok(())
    })?;
    ensure!(
        m.read(3 * p) == v1 && m.read(5 * p) == data[5 * p],
        "the child's private writes reached the parent"
    );
    ensure!(
        pread(&f, 1, 3 * p)? == [data[3 * p]] && pread(&f, 1, 5 * p)? == [data[5 * p]],
        "the child's private writes reached the device"
    );
    m.write(span + 7, v4);
    ensure!(
        pread(&f, 1, span + 7)? == [data[span + 7]],
        "the parent's private write after fork reached the device"
    );
    child_ok(|| {
        ensure!(
            m.read(span + 7) == v4,
            "a later child does not see its parent's private write"
        );
        Ok(())
    })?;
    let shown = m.read_bytes(0, 2 * span);
    let diff: Vec<usize> = (0..shown.len()).filter(|&i| shown[i] != data[i]).collect();
    ensure!(
        diff == [3 * p, span + 7],
        "the private mapping differs from the device at {diff:x?}, expected only where the \
         parent wrote"
    );
    pmd.note();
    Ok(Outcome::Pass)
}
