//! Huge entries split and moved: munmap() or mprotect() of part of a PMD span zaps the span's
//! entry, and its pages come back one PTE fault each, while the other spans keep theirs;
//! mremap() moves the entries with the mapping. The counting is `huge_cost`'s; every way to
//! split at every boundary: `huge_split_matrix`.

use std::ffi::c_void;
use std::fs::File;
use std::os::fd::AsFd;
use std::ptr::NonNull;

use nix::sys::mman::{MRemapFlags, MapFlags, ProtFlags, mprotect, mremap, munmap};
use nix::sys::signal::Signal;
use vmdev::mapping::Mapping;
use vmdev::maps::self_maps_entry;

use crate::common::*;
use crate::harness::{Context, Device, Outcome, TestResult, diag, ensure, test};
use crate::huge_cost::{
    Cost, expect_cost, in_spans, pages, span_pages, spans_or_skip, touch, whole_mapped,
};

test!(huge: munmap_splits_span);
/// munmap() of one page in the middle of a span mapped by a PMD entry: the rest of that span
/// is refaulted with a PTE per page, the other spans keep their entries, the bytes stay, and
/// the two halves are two VMAs.
fn munmap_splits_span(_cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (sp, len, p) = (span_pages(), spans * pmd_span(), ps());
    let base = d.live_vmas()?;
    let (_f, data, m) = whole_mapped(d, spans, 70)?;
    let got = touch(d, &m, &in_spans(0..spans, 0), false)?;
    expect_cost("a first read of every span", got, Cost::of(spans, sp, 0))?;
    let hole = sp / 2;
    let (ptr, _) = m.into_raw();
    // SAFETY: Page `hole` of the mapping this function owns.
    unsafe { munmap(ptr.byte_add(hole * p), p) }
        .map_err(|e| format!("munmap(page {hole}): {e}"))?;
    // SAFETY: The pages before and after the hole are still mapped; these own them from now on.
    let (head, tail) = unsafe {
        (
            Mapping::from_raw(ptr, hole * p),
            Mapping::from_raw(ptr.byte_add((hole + 1) * p), len - (hole + 1) * p),
        )
    };
    let live = d.live_vmas()?;
    ensure!(
        live == base + 2,
        "live_vmas {live} after the split, expected {}",
        base + 2
    );
    let got = touch(d, &head, &pages(0..hole), false)?;
    expect_cost(
        "reads of the span's pages before the hole",
        got,
        Cost::of(0, sp, hole),
    )?;
    let after = sp - hole - 1;
    let got = touch(d, &tail, &pages(0..after), false)?;
    expect_cost(
        "reads of the span's pages after the hole",
        got,
        Cost::of(0, sp, after),
    )?;
    let got = touch(d, &tail, &pages(after..tail.len() / p), false)?;
    expect_cost(
        "reads of every page of the other spans",
        got,
        Cost::of(0, sp, 0),
    )?;
    ensure!(
        head.read_bytes(0, head.len()) == data[..hole * p]
            && tail.read_bytes(0, tail.len()) == data[(hole + 1) * p..],
        "the two halves show other bytes than the device"
    );
    drop((head, tail));
    let live = d.live_vmas()?;
    ensure!(
        live == base,
        "live_vmas {live} after unmapping all, was {base}"
    );
    Ok(Outcome::Pass)
}

test!(huge: mprotect_splits_span);
/// mprotect(PROT_READ) of pages inside a span mapped by a PMD entry: three VMAs; every page of
/// that span is refaulted with a PTE, the other spans keep their entries; the read-only pages
/// read the device's bytes, a write to them is SIGSEGV, the rest of the span stays writable.
fn mprotect_splits_span(_cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (sp, p) = (span_pages(), ps());
    let base = d.live_vmas()?;
    let (f, data, m) = whole_mapped(d, spans, 71)?;
    let got = touch(d, &m, &in_spans(0..spans, 0), false)?;
    expect_cost("a first read of every span", got, Cost::of(spans, sp, 0))?;
    let (lo, hi) = (sp / 4, sp / 2);
    let at = NonNull::new((m.addr() as usize + lo * p) as *mut c_void).ok_or("null address")?;
    // SAFETY: Pages of the mapping this function owns, accessed only through volatile reads
    // from now on (and a write in a child, which must die of it).
    unsafe { mprotect(at, (hi - lo) * p, ProtFlags::PROT_READ) }
        .map_err(|e| format!("mprotect(pages {lo}..{hi}, PROT_READ): {e}"))?;
    let live = d.live_vmas()?;
    ensure!(
        live == base + 3,
        "live_vmas {live} after mprotect, expected {}",
        base + 3
    );
    let got = touch(d, &m, &pages(0..sp), false)?;
    expect_cost(
        "reads of every page of the split span",
        got,
        Cost::of(0, sp, sp),
    )?;
    let got = touch(d, &m, &pages(sp..spans * sp), false)?;
    expect_cost(
        "reads of every page of the other spans",
        got,
        Cost::of(0, sp, 0),
    )?;
    ensure!(
        m.read_bytes(0, m.len()) == data,
        "the mapping shows other bytes than the device"
    );
    child_killed_by(Signal::SIGSEGV, || m.write(lo * p + 1, 0x11))?;
    ensure!(
        pread(&f, 1, lo * p + 1)? == data[lo * p + 1..lo * p + 2],
        "the refused write reached the device"
    );
    m.write(hi * p + 1, 0x12);
    ensure!(
        pread(&f, 1, hi * p + 1)? == [0x12],
        "a write after the read-only pages did not reach the device"
    );
    drop(m);
    let live = d.live_vmas()?;
    ensure!(
        live == base,
        "live_vmas {live} after unmapping all, was {base}"
    );
    Ok(Outcome::Pass)
}

test!(huge: mremap_move_keeps_spans);
/// mremap() of the whole mapping to another PMD-aligned address: the bytes come along, and
/// touching every page again takes at most one fault per span, each a PMD entry.
fn mremap_move_keeps_spans(_cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (span, sp, len) = (pmd_span(), span_pages(), spans * pmd_span());
    let base = d.live_vmas()?;
    let (_f, data, m) = whole_mapped(d, spans, 72)?;
    let got = touch(d, &m, &pages(0..spans * sp), false)?;
    expect_cost("a first read of every page", got, Cost::of(spans, sp, 0))?;
    let zero = File::open("/dev/zero").map_err(|e| format!("/dev/zero: {e}"))?;
    let target = Mapping::aligned(
        zero.as_fd(),
        len,
        ProtFlags::PROT_NONE,
        MapFlags::MAP_PRIVATE,
        0,
        span,
    )
    .map_err(|e| format!("reserving {len:#x} bytes aligned to {span:#x}: {e}"))?;
    let (to, _) = target.into_raw();
    let (from, _) = m.into_raw();
    let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED;
    // SAFETY: Moves the mapping this function owns onto the reservation it also owns.
    let res = unsafe { mremap(from, len, len, flags, Some(to)) };
    let new = match res {
        Ok(new) => new,
        Err(e) => {
            // SAFETY: Both are still mapped and owned here; dropping unmaps them.
            drop(unsafe { (Mapping::from_raw(from, len), Mapping::from_raw(to, len)) });
            return Err(format!("mremap to {to:p}: {e}"));
        }
    };
    // SAFETY: The moved mapping, owned from now on.
    let moved = unsafe { Mapping::from_raw(new, len) };
    ensure!(
        new == to && moved.addr() % span as u64 == 0,
        "mremap returned {new:p}, asked for {to:p}"
    );
    ensure!(
        self_maps_entry(from.as_ptr() as u64).is_err(),
        "the old range is still mapped"
    );
    let live = d.live_vmas()?;
    ensure!(
        live == base + 1,
        "live_vmas {live} after the move, expected {}",
        base + 1
    );
    let got = touch(d, &moved, &pages(0..spans * sp), false)?;
    ensure!(
        got.faults <= spans as u64
            && got.minor <= spans as u64
            && got.around == got.faults * (sp as u64 - 1),
        "reads of every page after the move: {got}; expected at most {spans} faults, each a \
         PMD entry"
    );
    ensure!(
        moved.read_bytes(0, len) == data,
        "the moved mapping shows other bytes than the device"
    );
    diag!("touching every page after the move: {got}");
    Ok(Outcome::Pass)
}
