//! The fault path, counted. `vmdev_info.faults` counts the faults the fault device's handler
//! answered, one per fault; `around_pages` the neighbouring pages it mapped with them. With
//! fault-around on, a first touch of a shared mapping (read or write), or a first read of a
//! private one, maps the naturally aligned window of w pages around the faulting page (module
//! parameter `fault_around_bytes`, reported in `vmdev_info.flags`: `common::device_window`),
//! clamped to the VMA, skipping pages already mapped; a first write to a private mapping is
//! copy-on-write of one page. With it off, each fault maps one page. So a fresh range touched
//! once has `faults + around_pages` == the pages it now maps (Rss).
//!
//! Sizes here are in units of W >= w pages (`common::window`). Mappings start at a multiple of
//! W pages, in the file and in the address space, so that windows line up with them whichever
//! of the two the driver aligns to.

use std::fs::File;
use std::path::Path;

use nix::sys::mman::{MapFlags, MmapAdvise};
use vmdev::mapping::{FAULT_AROUND_BYTES, Mapping, minor_faults, set_fault_around_bytes};
use vmdev::uapi::{self, VmdevInfo};

use crate::common::*;
use crate::harness::{Context, Device, Outcome, TestResult, ensure, test};

/// How far `faults` and `around_pages` moved.
fn moved(before: &VmdevInfo, after: &VmdevInfo) -> (u64, u64) {
    (
        after.faults - before.faults,
        after.around_pages - before.around_pages,
    )
}

/// A mapping of `pages` pages at file page `first`, its address aligned like its offset.
fn fresh(
    d: &Device,
    f: &File,
    pages: usize,
    first: usize,
    flags: MapFlags,
) -> Result<Mapping, String> {
    map_aligned(f, pages * ps(), flags, first * ps(), window(d)? * ps())
}

/// File page `k * W` for a mapping of `pages` pages, or the last multiple of W that leaves room
/// for them in the buffer of `d`: with a wide window (a page table's span is 2 MiB, an eighth of
/// the default buffer) `k * W` may lie past its end.
fn place(d: &Device, k: usize, pages: usize) -> Result<usize, String> {
    let (w, size) = (window(d)?, d.size()? / ps());
    let last = size
        .checked_sub(pages)
        .ok_or_else(|| format!("{pages} pages do not fit in the {size}-page buffer"))?;
    Ok((k * w).min(last - last % w))
}

/// First-touches page `page` of `m`, which must take one fault of the driver that maps
/// `want` pages in all (the faulting one and `want - 1` around it).
fn one_fault_maps(d: &Device, m: &Mapping, page: usize, write: bool, want: u64) -> TestResult {
    let (before, rss) = (d.info()?, rss_pages(m)?);
    if write {
        m.write(page * ps(), 0x77);
    } else {
        m.read(page * ps());
    }
    let (faults, around) = moved(&before, &d.info()?);
    let mapped = rss_pages(m)? - rss;
    let what = if write { "write" } else { "read" };
    ensure!(
        faults == 1 && faults + around == want && mapped == want,
        "first {what} of page {page}: faults +{faults}, around_pages +{around}, Rss +{mapped} \
         pages; expected 1 fault mapping {want} pages"
    );
    Ok(Outcome::Pass)
}

test!(fault: write_touch_counts_pages_mapped);
/// k first writes into a W-page shared mapping: the first maps the whole window, the others
/// find their pages mapped (with fault-around off, each takes its own fault).
fn write_touch_counts_pages_mapped(_cx: &Context, d: &Device) -> TestResult {
    let (w, big_w) = (device_window(d)?, window(d)?);
    let k = (3 * big_w / 4).max(1);
    let f = d.open(true)?;
    let m = fresh(d, &f, big_w, big_w, MapFlags::MAP_SHARED)?;
    let before = d.info()?;
    for i in 0..k {
        m.write(i * ps(), 1);
    }
    let mid = d.info()?;
    let (faults, around) = moved(&before, &mid);
    let windows = k.div_ceil(w) as u64;
    let (mapped, want) = (rss_pages(&m)?, windows * w as u64);
    ensure!(
        faults == windows && faults + around == mapped && mapped == want,
        "{k} first writes (W {big_w}, window {w}): faults +{faults}, around_pages +{around}, \
         Rss {mapped} pages; expected {windows} faults mapping {want} pages"
    );
    for i in 0..k {
        m.write(i * ps() + 1, 2);
    }
    ensure!(
        d.info()? == mid,
        "second touches moved the counters: {mid:?} -> {:?}",
        d.info()?
    );
    Ok(Outcome::Pass)
}

test!(fault: read_touch_maps_window);
/// A first read maps its aligned window: one fault per window; clamped to a VMA shorter than
/// the window; skipping pages still mapped.
fn read_touch_maps_window(_cx: &Context, d: &Device) -> TestResult {
    let (w, big_w) = (device_window(d)?, window(d)?);
    let f = d.open(true)?;
    let m = fresh(d, &f, 2 * big_w, 2 * big_w, MapFlags::MAP_SHARED)?;
    let touched = [1.min(big_w - 1), big_w + big_w / 2];
    for page in touched {
        one_fault_maps(d, &m, page, false, w as u64)?;
    }
    let again = d.info()?;
    for page in touched.iter().flat_map(|p| p / w * w..(p / w + 1) * w) {
        m.read(page * ps());
    }
    ensure!(
        d.info()? == again,
        "reads of pages the windows mapped faulted"
    );

    // A VMA of half a window, inside one: the window stops at the VMA's ends.
    let half = (big_w / 2).max(1);
    let short = map_aligned(
        &f,
        half * ps(),
        MapFlags::MAP_SHARED,
        (4 * big_w + big_w / 4) * ps(),
        big_w * ps(),
    )?;
    one_fault_maps(d, &short, half - 1, false, half.min(w) as u64)?;

    // Zap the first half of a mapped window: a read maps only what is missing.
    let m = fresh(d, &f, big_w, 6 * big_w, MapFlags::MAP_SHARED)?;
    one_fault_maps(d, &m, 0, false, w as u64)?;
    madvise_range(&m, 0, half * ps(), MmapAdvise::MADV_DONTNEED)
        .map_err(|e| format!("MADV_DONTNEED: {e}"))?;
    one_fault_maps(d, &m, 0, false, half.min(w) as u64)?;
    Ok(Outcome::Pass)
}

test!(fault: private_fault_counts);
/// A private mapping: a first write copies one page (one fault); a first read maps the window
/// read-only; a write to a page the window mapped is copied by the core, without the driver.
fn private_fault_counts(_cx: &Context, d: &Device) -> TestResult {
    let (w, big_w) = (device_window(d)?, window(d)?);
    let f = d.open(true)?;
    let data = pattern(99, 2 * big_w * ps());
    let at = place(d, 8, 2 * big_w)?;
    pwrite(&f, &data, at * ps()).map_err(|e| e.to_string())?;
    let m = fresh(d, &f, 2 * big_w, at, MapFlags::MAP_PRIVATE)?;
    one_fault_maps(d, &m, 0, true, 1)?;
    one_fault_maps(d, &m, big_w, false, w as u64)?;
    if w > 1 {
        let (before, rss) = (d.info()?, rss_pages(&m)?);
        m.write((big_w + 1) * ps(), 0x78);
        let after = d.info()?;
        ensure!(
            after == before && rss_pages(&m)? == rss,
            "a write to a page the window mapped: {before:?} -> {after:?}, Rss {rss} -> {} pages",
            rss_pages(&m)?
        );
    }
    ensure!(
        m.read(ps()) == data[ps()] && m.read(big_w * ps() + 3) == data[big_w * ps() + 3],
        "the private mapping does not show the device's bytes"
    );
    ensure!(
        pread(&f, 2 * big_w * ps(), at * ps())? == data,
        "private writes reached the device"
    );
    Ok(Outcome::Pass)
}

/// Runs `body` with the kernel's fault-around turned off (for every mapping on the machine),
/// then restores the setting.
fn without_kernel_fault_around(body: impl FnOnce() -> TestResult) -> TestResult {
    if !Path::new(FAULT_AROUND_BYTES).exists() {
        return Ok(Outcome::Skip(format!(
            "{FAULT_AROUND_BYTES} not available (no debugfs)"
        )));
    }
    let old = set_fault_around_bytes(ps())?;
    let result = body();
    std::fs::write(FAULT_AROUND_BYTES, old).map_err(|e| e.to_string())?;
    result
}

test!(fault: window_ignores_fault_around_bytes);
/// The kernel's fault_around_bytes set to one page does not change the driver's window: k
/// first reads still take one fault per window they touch.
fn window_ignores_fault_around_bytes(_cx: &Context, d: &Device) -> TestResult {
    without_kernel_fault_around(|| {
        let (w, big_w) = (device_window(d)?, window(d)?);
        let k = big_w + (big_w / 4).max(1);
        let f = d.open(true)?;
        let m = fresh(d, &f, 2 * big_w, 2 * big_w, MapFlags::MAP_SHARED)?;
        let before = d.info()?;
        for i in 0..k {
            m.read(i * ps());
        }
        let (faults, around) = moved(&before, &d.info()?);
        let windows = k.div_ceil(w) as u64;
        let want = (windows * w as u64).min(2 * big_w as u64);
        let mapped = rss_pages(&m)?;
        ensure!(
            faults == windows && faults + around == want && mapped == want,
            "{k} first reads with fault_around_bytes at one page: faults +{faults}, \
             around_pages +{around}, Rss {mapped} pages; expected {windows} faults mapping {want}"
        );
        Ok(Outcome::Pass)
    })
}

test!(fault: around_cuts_read_faults);
/// Reading a page table's worth of pages takes far fewer page faults than pages.
fn around_cuts_read_faults(_cx: &Context, d: &Device) -> TestResult {
    if d.info()?.flags & uapi::FLAG_FAULT_AROUND == 0 {
        return Ok(Outcome::Skip("the device has fault-around off".into()));
    }
    let w = device_window(d)?;
    if w < 2 {
        return Ok(Outcome::Skip(format!(
            "the window is one page ({} KiB)",
            ps() / 1024
        )));
    }
    let f = d.open(true)?;
    // One page table's worth, or the whole device where that is less (a page table maps 32 MiB
    // with 16 KiB pages, the default device 16 MiB).
    let pages = (ps() / 8).min(d.size()? / ps());
    let m = shared(&f, pages * ps(), 0)?;
    let before = d.info()?;
    let flt = minor_faults()?;
    for i in 0..pages {
        m.read(i * ps());
    }
    let faults = minor_faults()? - flt;
    let (by_fault, by_around) = moved(&before, &d.info()?);
    ensure!(
        by_fault + by_around == pages as u64,
        "{by_fault} faults + {by_around} pages around them, expected {pages} pages in all"
    );
    ensure!(by_around > 0, "fault-around mapped nothing");
    ensure!(
        faults * (w / 2) as i64 <= pages as i64,
        "{faults} page faults to read {pages} pages: {w}-page windows should need at most 2/{w} of that"
    );
    Ok(Outcome::Pass)
}

/// Populating a fresh range maps each page once, with at most a window per fault.
fn populate_counts(
    d: &Device,
    populate: impl Fn(&File, usize) -> Result<Mapping, String>,
) -> TestResult {
    let f = d.open(true)?;
    let pages = window(d)? + window(d)? / 2;
    let before = d.info()?;
    let m = populate(&f, pages)?;
    let after = d.info()?;
    let (faults, around) = moved(&before, &after);
    ensure!(
        faults + around == pages as u64,
        "populating {pages} pages: faults +{faults}, around_pages +{around} ({before:?} -> \
         {after:?})"
    );
    let min_faults = pages.div_ceil(device_window(d)?) as u64;
    ensure!(
        faults >= min_faults,
        "{faults} faults mapped {pages} pages: a fault maps one window at most"
    );
    let mapped = rss_pages(&m)?;
    ensure!(
        mapped == pages as u64,
        "Rss {mapped} pages after populating {pages}"
    );
    let again = d.info()?;
    m.read(0);
    m.read((pages - 1) * ps());
    ensure!(d.info()? == again, "touching populated pages still faulted");
    Ok(Outcome::Pass)
}

test!(fault: map_populate);
fn map_populate(_cx: &Context, d: &Device) -> TestResult {
    populate_counts(d, |f, pages| {
        map(
            f,
            pages * ps(),
            RW,
            MapFlags::MAP_SHARED | MapFlags::MAP_POPULATE,
            place(d, 4, pages)? * ps(),
        )
    })
}

test!(fault: madv_populate_read);
fn madv_populate_read(_cx: &Context, d: &Device) -> TestResult {
    populate_counts(d, |f, pages| {
        let m = shared(f, pages * ps(), place(d, 8, pages)? * ps())?;
        madvise_errno(&m, MmapAdvise::MADV_POPULATE_READ)
            .map_err(|e| format!("MADV_POPULATE_READ: {e}"))?;
        Ok(m)
    })
}
