//! The fault path: the fault device maps pages on first touch, copy-on-write for private
//! mappings, and counts what it maps (`faults`, `around_pages` of `vmdev_info`).

use std::fs::File;
use std::path::Path;

use nix::sys::mman::{MapFlags, MmapAdvise};
use vmdev::mapping::{FAULT_AROUND_BYTES, Mapping, minor_faults, set_fault_around_bytes};
use vmdev::maps::self_smaps_entry;
use vmdev::uapi;

use crate::common::*;
use crate::harness::{Context, Device, Outcome, TestResult, ensure, test};

test!(fault: private_is_cow);
fn private_is_cow(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    pwrite(&f, &[9, 9, 9, 9], 0).map_err(|e| e.to_string())?;
    let m = map(&f, ps(), RW, MapFlags::MAP_PRIVATE, 0)?;
    ensure!(
        m.read(0) == 9,
        "a private mapping does not start with the device's bytes"
    );
    m.write(0, 1);
    ensure!(
        pread(&f, 1, 0)? == [9],
        "a write to a private mapping reached the device"
    );
    child_ok(|| {
        ensure!(
            m.read(0) == 1,
            "the child does not inherit the parent's private copy"
        );
        m.write(1, 2);
        Ok(())
    })?;
    ensure!(
        m.read(1) == 9,
        "the child's write to its private copy reached the parent"
    );
    child_ok(|| {
        m.write(2, 3);
        Ok(())
    })?;
    m.write(3, 4);
    ensure!(
        pread(&f, 4, 0)? == [9, 9, 9, 9],
        "private writes reached the device"
    );
    Ok(Outcome::Pass)
}

test!(fault: private_child_write_cow);
fn private_child_write_cow(_cx: &Context, d: &Device) -> TestResult {
    // Copy-on-write the other way: a page first written by the child after fork.
    let f = d.open(true)?;
    pwrite(&f, &[5], 2 * ps()).map_err(|e| e.to_string())?;
    let m = map(&f, ps(), RW, MapFlags::MAP_PRIVATE, 2 * ps())?;
    ensure!(
        m.read(0) == 5,
        "the private mapping does not show the device's byte"
    );
    child_ok(|| {
        m.write(0, 6);
        ensure!(m.read(0) == 6, "the child does not see its own write");
        Ok(())
    })?;
    ensure!(
        m.read(0) == 5,
        "the child's write reached the parent's private mapping"
    );
    m.write(0, 7);
    ensure!(
        pread(&f, 1, 2 * ps())? == [5],
        "a private write reached the device"
    );
    Ok(Outcome::Pass)
}

test!(fault: mmap_maps_nothing);
fn mmap_maps_nothing(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let before = d.info()?;
    let m = shared(&f, 8 * ps(), 0)?;
    let after = d.info()?;
    ensure!(
        after.faults == before.faults && after.around_pages == before.around_pages,
        "mmap alone moved the counters: {before:?} -> {after:?}"
    );
    let rss = self_smaps_entry(m.addr())?.fields.get("Rss").copied();
    ensure!(
        rss == Some(0),
        "Rss {rss:?} kB before any touch, expected 0"
    );
    Ok(Outcome::Pass)
}

test!(fault: write_touch_counts_pages_mapped);
fn write_touch_counts_pages_mapped(_cx: &Context, d: &Device) -> TestResult {
    // The core never faults writes to a shared mapping around, but the driver may map
    // neighbours itself: whatever it maps, `faults` counts it, and Rss shows it.
    let f = d.open(true)?;
    let k = 12;
    let m = shared(&f, 16 * ps(), 16 * ps())?;
    let before = d.info()?;
    for i in 0..k {
        m.write(i * ps(), 1);
    }
    let mid = d.info()?;
    let rss = self_smaps_entry(m.addr())?
        .fields
        .get("Rss")
        .copied()
        .unwrap_or(0);
    let mapped = rss * 1024 / ps() as u64;
    ensure!(
        mid.faults - before.faults == mapped && mapped >= k as u64,
        "{k} first writes: faults moved by {}, Rss shows {mapped} pages",
        mid.faults - before.faults
    );
    for i in 0..k {
        m.write(i * ps() + 1, 2);
    }
    let after = d.info()?;
    ensure!(
        after.faults == mid.faults,
        "second touches moved faults by {}",
        after.faults - mid.faults
    );
    Ok(Outcome::Pass)
}

/// Runs `body` with the kernel's fault-around turned off (for every mapping on the machine),
/// then restores the setting.
fn without_fault_around(body: impl FnOnce() -> TestResult) -> TestResult {
    if !Path::new(FAULT_AROUND_BYTES).exists() {
        return Ok(Outcome::Skip(format!(
            "{FAULT_AROUND_BYTES} not available (mount debugfs)"
        )));
    }
    let old = set_fault_around_bytes(ps())?;
    let result = body();
    std::fs::write(FAULT_AROUND_BYTES, old).map_err(|e| e.to_string())?;
    result
}

test!(fault: read_touch_without_around);
fn read_touch_without_around(_cx: &Context, d: &Device) -> TestResult {
    without_fault_around(|| {
        let f = d.open(true)?;
        let k = 20;
        let m = shared(&f, 32 * ps(), 32 * ps())?;
        let before = d.info()?;
        for i in 0..k {
            m.read(i * ps());
        }
        let after = d.info()?;
        ensure!(
            after.faults - before.faults == k as u64,
            "{k} first reads moved faults by {}",
            after.faults - before.faults
        );
        ensure!(
            after.around_pages == before.around_pages,
            "fault-around ran while turned off"
        );
        Ok(Outcome::Pass)
    })
}

test!(fault: around_cuts_read_faults);
fn around_cuts_read_faults(_cx: &Context, d: &Device) -> TestResult {
    if d.info()?.flags & uapi::FLAG_FAULT_AROUND == 0 {
        return Ok(Outcome::Skip("the device has fault-around off".into()));
    }
    let f = d.open(true)?;
    let pages = 512; // one page table's worth
    let m = shared(&f, pages * ps(), 0)?;
    let before = d.info()?;
    let flt = minor_faults()?;
    for i in 0..pages {
        m.read(i * ps());
    }
    let faults = minor_faults()? - flt;
    let after = d.info()?;
    let (by_fault, by_around) = (
        after.faults - before.faults,
        after.around_pages - before.around_pages,
    );
    ensure!(
        by_fault + by_around == pages as u64,
        "{by_fault} pages by fault + {by_around} by fault-around, expected {pages} in all"
    );
    ensure!(by_around > 0, "fault-around mapped nothing");
    ensure!(
        faults * 8 <= pages as i64,
        "{faults} page faults to read {pages} pages: fault-around should need at most 1/8 of that"
    );
    Ok(Outcome::Pass)
}

fn populate_counts(
    d: &Device,
    populate: impl Fn(&File, usize) -> Result<Mapping, String>,
) -> TestResult {
    let f = d.open(true)?;
    let pages = 24;
    let before = d.info()?;
    let m = populate(&f, pages)?;
    let after = d.info()?;
    let mapped = after.faults - before.faults + after.around_pages - before.around_pages;
    ensure!(
        mapped == pages as u64,
        "populating {pages} pages mapped {mapped} ({before:?} -> {after:?})"
    );
    let rss = self_smaps_entry(m.addr())?.fields.get("Rss").copied();
    ensure!(
        rss == Some((pages * ps() / 1024) as u64),
        "Rss {rss:?} kB after populating {pages} pages"
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
            64 * ps(),
        )
    })
}

test!(fault: madv_populate_read);
fn madv_populate_read(_cx: &Context, d: &Device) -> TestResult {
    populate_counts(d, |f, pages| {
        let m = shared(f, pages * ps(), 128 * ps())?;
        madvise_errno(&m, MmapAdvise::MADV_POPULATE_READ)
            .map_err(|e| format!("MADV_POPULATE_READ: {e}"))?;
        Ok(m)
    })
}

test!(fault: gup_process_vm_readv);
fn gup_process_vm_readv(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let data = pattern(44, 2 * ps());
    pwrite(&f, &data, 6 * ps()).map_err(|e| e.to_string())?;
    let m = shared(&f, 2 * ps(), 6 * ps())?;
    // Not touched first: get_user_pages() faults the pages in itself.
    let got =
        process_vm_readv_result(&m, 2 * ps()).map_err(|e| format!("process_vm_readv: {e}"))?;
    ensure!(
        got == data,
        "process_vm_readv read other bytes than the device holds"
    );
    Ok(Outcome::Pass)
}

test!(fault: concurrent_first_touch);
fn concurrent_first_touch(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let pages = 64;
    let off = 256 * ps();
    let data = pattern(55, pages * ps());
    pwrite(&f, &data, off).map_err(|e| e.to_string())?;
    let m = shared(&f, pages * ps(), off)?;
    let before = d.info()?;
    let threads = 4;
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let m = &m;
                let data = &data;
                s.spawn(move || {
                    (0..pages).all(|i| {
                        let p = (i + t * 7) % pages; // different orders, same pages
                        m.read(p * ps() + t) == data[p * ps() + t]
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .collect()
    });
    ensure!(
        results.iter().all(|&ok| ok),
        "a thread read wrong bytes: {results:?}"
    );
    let after = d.info()?;
    let mapped = after.faults - before.faults + after.around_pages - before.around_pages;
    // A page two threads fault at once may be handed over twice (the core keeps one): never
    // fewer mappings than pages, never more than one per thread and page.
    ensure!(
        mapped >= pages as u64 && mapped <= (pages * threads) as u64,
        "{mapped} pages mapped for {pages} pages and {threads} threads"
    );
    let rss = self_smaps_entry(m.addr())?.fields.get("Rss").copied();
    ensure!(
        rss == Some((pages * ps() / 1024) as u64),
        "Rss {rss:?} kB, expected every page mapped once"
    );
    Ok(Outcome::Pass)
}
