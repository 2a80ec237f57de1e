//! Sharing and fork: mappings, read() and write() see the same bytes; mappings survive fork
//! (or not, with MADV_DONTFORK) and are counted in `live_vmas`.

use nix::errno::Errno;
use nix::sys::mman::MmapAdvise;
use nix::sys::signal::Signal;
use vmdev::maps::{self_maps_entry, self_smaps_entry};

use crate::common::*;
use crate::harness::{Context, Device, Outcome, TestResult, ensure, test};

test!(remap huge fault folio: mapping_coherent_with_read_write);
fn mapping_coherent_with_read_write(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let off = ps();
    let m = shared(&f, 2 * ps(), off)?;
    let a = pattern(21, 100);
    m.write_bytes(10, &a);
    ensure!(
        pread(&f, 100, off + 10)? == a,
        "read() does not see bytes written through the mapping"
    );
    let b = pattern(22, 100);
    pwrite(&f, &b, off + ps() + 5).map_err(|e| e.to_string())?;
    ensure!(
        m.read_bytes(ps() + 5, 100) == b,
        "the mapping does not see bytes written by write()"
    );
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: two_mappings_alias);
fn two_mappings_alias(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m1 = shared(&f, ps(), 3 * ps())?;
    let m2 = shared(&f, 2 * ps(), 2 * ps())?;
    m1.write(17, 0xa5);
    ensure!(
        m2.read(ps() + 17) == 0xa5,
        "a write through one mapping is not seen through the other"
    );
    m2.write(ps() + 18, 0x5a);
    ensure!(m1.read(18) == 0x5a, "the aliasing does not work both ways");
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: shared_across_fork);
fn shared_across_fork(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    m.write(0, 1);
    child_ok(|| {
        ensure!(m.read(0) == 1, "the child does not see the parent's write");
        m.write(1, 2);
        Ok(())
    })?;
    ensure!(m.read(1) == 2, "the parent does not see the child's write");
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: two_processes_share);
fn two_processes_share(_cx: &Context, d: &Device) -> TestResult {
    // Unlike `shared_across_fork`, the child maps the device itself.
    let f = d.open(true)?;
    let m = shared(&f, ps(), 5 * ps())?;
    m.write(100, 0x42);
    let dev = d.clone();
    child_ok(move || {
        let f = dev.open(true)?;
        let m = shared(&f, ps(), 5 * ps())?;
        ensure!(
            m.read(100) == 0x42,
            "another process's mapping does not see the write"
        );
        m.write(101, 0x43);
        Ok(())
    })?;
    ensure!(
        m.read(101) == 0x43,
        "the write of another process's mapping is not seen"
    );
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: fork_counts_child_vma);
fn fork_counts_child_vma(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    let before = d.live_vmas()?;
    let dev = d.clone();
    child_ok(move || {
        let live = dev.live_vmas()?;
        ensure!(
            live == before + 1,
            "the child's copy of the VMA is not counted: live_vmas {live}, parent alone {before}"
        );
        Ok(())
    })?;
    let after = d.live_vmas()?;
    ensure!(
        after == before,
        "live_vmas {after} after the child exited, {before} before it was born"
    );
    drop(m);
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: madv_dontfork_child_has_no_mapping);
fn madv_dontfork_child_has_no_mapping(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    madvise_errno(&m, MmapAdvise::MADV_DONTFORK).map_err(|e| format!("MADV_DONTFORK: {e}"))?;
    let before = d.live_vmas()?;
    let addr = m.addr();
    let dev = d.clone();
    child_ok(move || {
        let live = dev.live_vmas()?;
        ensure!(
            live == before,
            "a VM_DONTCOPY VMA was copied: live_vmas {live}, parent alone {before}"
        );
        ensure!(
            self_maps_entry(addr).is_err(),
            "the child has a VMA at {addr:#x}"
        );
        Ok(())
    })?;
    // SAFETY: The child reads an address its address space does not have; it dies.
    child_killed_by(Signal::SIGSEGV, || unsafe {
        (addr as *const u8).read_volatile();
    })?;
    drop(m);
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: smaps_dontfork_shows_dc);
fn smaps_dontfork_shows_dc(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    ensure!(
        !self_smaps_entry(m.addr())?.has_flag("dc"),
        "dc before MADV_DONTFORK"
    );
    madvise_errno(&m, MmapAdvise::MADV_DONTFORK).map_err(|e| format!("MADV_DONTFORK: {e}"))?;
    ensure!(
        self_smaps_entry(m.addr())?.has_flag("dc"),
        "no dc in VmFlags after MADV_DONTFORK"
    );
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: madv_wipeonfork_einval);
fn madv_wipeonfork_einval(_cx: &Context, d: &Device) -> TestResult {
    // MADV_WIPEONFORK is for private anonymous memory only.
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    expect_errno(
        "MADV_WIPEONFORK",
        madvise_errno(&m, MmapAdvise::MADV_WIPEONFORK),
        Errno::EINVAL,
    )?;
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: madv_dofork_einval);
fn madv_dofork_einval(_cx: &Context, d: &Device) -> TestResult {
    // Both VMAs are VM_DONTEXPAND, so VM_SPECIAL: once MADV_DONTFORK has made them skip
    // fork, MADV_DOFORK cannot undo it.
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    madvise_errno(&m, MmapAdvise::MADV_DONTFORK).map_err(|e| format!("MADV_DONTFORK: {e}"))?;
    expect_errno(
        "MADV_DOFORK on a VM_SPECIAL mapping",
        madvise_errno(&m, MmapAdvise::MADV_DOFORK),
        Errno::EINVAL,
    )?;
    ensure!(
        self_smaps_entry(m.addr())?.has_flag("dc"),
        "the refused MADV_DOFORK cleared dc"
    );
    Ok(Outcome::Pass)
}
