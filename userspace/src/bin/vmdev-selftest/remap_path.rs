//! The remap path: the whole range is mapped with remap_pfn_range at mmap time (VM_PFNMAP).

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags};
use vmdev::maps::self_maps_entry;

use crate::common::*;
use crate::harness::{Context, Device, Outcome, TestResult, ensure, test};

test!(remap huge: private_readonly_keeps_offset);
fn private_readonly_keeps_offset(_cx: &Context, d: &Device) -> TestResult {
    // A copy-on-write remap_pfn_range mapping would show the physical page number here.
    let f = d.open(true)?;
    let off = 3 * ps();
    let m = map(
        &f,
        2 * ps(),
        ProtFlags::PROT_READ,
        MapFlags::MAP_PRIVATE,
        off,
    )?;
    let e = self_maps_entry(m.addr())?;
    ensure!(e.perms == "r--p", "perms {}, expected r--p", e.perms);
    ensure!(
        e.offset == off as u64,
        "offset {:#x}, expected the mmap offset {off:#x}",
        e.offset
    );
    pwrite(&f, &[0x3c], off).map_err(|e| e.to_string())?;
    ensure!(
        m.read(0) == 0x3c,
        "a read-only private mapping does not show the device's bytes"
    );
    Ok(Outcome::Pass)
}

test!(remap huge: populate);
fn populate(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let m = map(
        &f,
        4 * ps(),
        rw,
        MapFlags::MAP_SHARED | MapFlags::MAP_POPULATE,
        0,
    )?;
    pwrite(&f, &[0x61], 3 * ps()).map_err(|e| e.to_string())?;
    ensure!(
        m.read(3 * ps()) == 0x61,
        "MAP_POPULATE changed what the mapping shows"
    );
    for advice in [
        MmapAdvise::MADV_POPULATE_READ,
        MmapAdvise::MADV_POPULATE_WRITE,
    ] {
        expect_errno(
            &format!("{advice:?} on a VM_PFNMAP mapping"),
            madvise_errno(&m, advice),
            Errno::EINVAL,
        )?;
    }
    Ok(Outcome::Pass)
}

test!(remap huge: gup_process_vm_readv_efault);
fn gup_process_vm_readv_efault(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    m.read(0);
    expect_errno(
        "process_vm_readv of a VM_PFNMAP mapping",
        process_vm_readv_result(&m, ps()),
        Errno::EFAULT,
    )?;
    Ok(Outcome::Pass)
}
