//! The fault path: the fault device maps pages on first touch (copy-on-write for private
//! mappings), for get_user_pages() too, for threads racing to the same pages, and without
//! falling back from the per-VMA lock to mmap_lock. What it counts: `fault_counts`. The folio
//! node maps ordinary pages on fault too, and takes the same tests (its PMD entries:
//! `folio_path`).

use nix::sys::mman::{MapFlags, ProtFlags};
use vmdev::maps::{self_smaps_entry, vmstat};

use crate::common::*;
use crate::harness::{Context, Device, Kind, Module, Outcome, TestResult, diag, ensure, test};

test!(fault folio: private_is_cow);
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

test!(fault folio: private_child_write_cow);
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

test!(huge fault folio: mmap_maps_nothing);
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

test!(fault folio: gup_process_vm_readv);
fn gup_process_vm_readv(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let data = pattern(44, 2 * ps());
    pwrite(&f, &data, 6 * ps()).map_err(|e| e.to_string())?;
    let m = shared(&f, 2 * ps(), 6 * ps())?;
    // Not touched first: get_user_pages() faults the pages in itself.
    let got = m
        .read_through_gup(2 * ps())
        .map_err(|e| format!("process_vm_readv: {e}"))?;
    ensure!(
        got == data,
        "process_vm_readv read other bytes than the device holds"
    );
    Ok(Outcome::Pass)
}

test!(fault folio: concurrent_first_touch);
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

/// First touches of every device: reads of the first half of a shared mapping, writes to the
/// second half, and reads of a private read-only mapping of the fault device. The huge and
/// folio devices' mappings start a page into the buffer and run to its end: PTE faults for the
/// pages before the first whole PMD span, PMD faults for the whole spans.
fn first_touch_all(cx: &Context) -> Result<(), String> {
    let pages = 4 * window(&cx.fault)?;
    for d in cx.devices() {
        let f = d.open(true)?;
        let m = match d.kind {
            Kind::Huge | Kind::Folio => shared(&f, d.size()? - ps(), ps())?,
            _ => shared(&f, pages * ps(), 0)?,
        };
        if d.kind == Kind::Folio {
            crate::folio_path::advise_huge(&m)?;
        }
        let touched = m.len() / ps();
        for i in 0..touched / 2 {
            m.read(i * ps());
        }
        for i in touched / 2..touched {
            m.write(i * ps(), 1);
        }
    }
    let f = cx.fault.open(true)?;
    let m = map(
        &f,
        pages * ps(),
        ProtFlags::PROT_READ,
        MapFlags::MAP_PRIVATE,
        pages * ps(),
    )?;
    for i in 0..pages {
        m.read(i * ps());
    }
    Ok(())
}

const VMA_LOCK_RETRY: &str = "vma_lock_retry";

test!(module: vma_lock_no_retries, Reload);
/// Faults of every device complete under the per-VMA lock, with fault-around on and off:
/// /proc/vmstat's `vma_lock_retry` (faults redone under mmap_lock) does not move.
fn vma_lock_no_retries(cx: &Context, m: &Module) -> TestResult {
    if vmstat(VMA_LOCK_RETRY)?.is_none() {
        return Ok(Outcome::Skip(format!(
            "no {VMA_LOCK_RETRY} in /proc/vmstat (kernel without CONFIG_PER_VMA_LOCK_STATS)"
        )));
    }
    let retries = || -> Result<u64, String> {
        vmstat(VMA_LOCK_RETRY)?.ok_or_else(|| format!("{VMA_LOCK_RETRY} went away"))
    };
    let result = (|| {
        for around in [1, 0] {
            m.reload(&format!("fault_around={around}"))?;
            let before = retries()?;
            first_touch_all(cx)?;
            let after = retries()?;
            diag!(
                "fault_around={around}: {VMA_LOCK_RETRY} {before} before the first touches, {after} after"
            );
            ensure!(
                after == before,
                "fault_around={around}: {} faults were retried under mmap_lock",
                after - before
            );
        }
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}
