//! The VM_PFNMAP paths: the remap node maps the whole range with remap_pfn_range at mmap
//! time, the huge node on fault (PMD, PUD or PTE entries); both are VM_PFNMAP, so no
//! copy-on-write, no get_user_pages(), and what upstream's pfnmap selftest
//! (tools/testing/selftests/mm/pfnmap.c) expects of such a mapping: advice refused, munmap()
//! and mremap() splitting and moving it, fork() giving the child access.

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, munmap};
use vmdev::mapping::Mapping;
use vmdev::maps::self_maps_entry;

use crate::common::*;
use crate::gup::{DirectIo, SplicedPipe, process_vm_write};
use crate::harness::{Context, Device, Outcome, TestResult, diag, ensure, test};

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
        m.read_through_gup(ps()),
        Errno::EFAULT,
    )?;
    Ok(Outcome::Pass)
}

test!(remap huge: gup_vmsplice_writev_o_direct_efault);
/// The other ways into a mapping through get_user_pages(), which the folio and fault nodes'
/// pages take (`folio.gup_*`), are refused on a VM_PFNMAP mapping, touched or not: vmsplice()
/// into a pipe, process_vm_writev() and O_DIRECT I/O from and into it (to the test VM's zram
/// device, where there is one) all fail with EFAULT, and the device keeps its bytes.
fn gup_vmsplice_writev_o_direct_efault(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    pwrite(&f, &pattern(75, 2 * ps()), 0).map_err(|e| e.to_string())?;
    let before = pread(&f, 2 * ps(), 0)?;
    let m = shared(&f, 2 * ps(), 0)?;
    m.read(0);
    expect_errno(
        "vmsplice of a VM_PFNMAP mapping",
        SplicedPipe::splice(&m, 0, 2 * ps()).map(|pipe| pipe.len),
        Errno::EFAULT,
    )?;
    expect_errno(
        "process_vm_writev into a VM_PFNMAP mapping",
        process_vm_write(&m, 10, b"gup"),
        Errno::EFAULT,
    )?;
    match DirectIo::zram(2 * ps())? {
        Ok(io) => {
            expect_errno(
                "an O_DIRECT write from a VM_PFNMAP mapping",
                io.write_from(m.addr(), 2 * ps(), 0),
                Errno::EFAULT,
            )?;
            expect_errno(
                "an O_DIRECT read into a VM_PFNMAP mapping",
                io.read_into(m.addr(), 2 * ps(), 0),
                Errno::EFAULT,
            )?;
        }
        Err(Outcome::Skip(why)) => diag!("O_DIRECT left out: {why}"),
        Err(other) => return Ok(other),
    }
    ensure!(
        pread(&f, 2 * ps(), 0)? == before && m.read_bytes(0, 2 * ps()) == before,
        "the refused accesses changed the device"
    );
    Ok(Outcome::Pass)
}

test!(remap huge: madv_dontneed_einval);
/// MADV_DONTNEED is refused on a VM_PFNMAP mapping, of all of it or of one page: its entries
/// stay (touching every page again takes no fault), its bytes are the device's.
fn madv_dontneed_einval(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let size = d.size()?;
    let data = pattern(73, size);
    pwrite(&f, &data, 0).map_err(|e| e.to_string())?;
    let m = shared(&f, size, 0)?;
    for i in (0..size).step_by(ps()) {
        m.read(i);
    }
    let before = d.info()?;
    expect_errno(
        "MADV_DONTNEED of the whole mapping",
        madvise_errno(&m, MmapAdvise::MADV_DONTNEED),
        Errno::EINVAL,
    )?;
    expect_errno(
        "MADV_DONTNEED of its second page",
        madvise_range(&m, ps(), ps(), MmapAdvise::MADV_DONTNEED),
        Errno::EINVAL,
    )?;
    ensure!(m.read_bytes(0, size) == data, "the bytes changed");
    let after = d.info()?;
    ensure!(
        after.faults == before.faults,
        "touching every page after the refused MADV_DONTNEEDs took {} faults",
        after.faults - before.faults
    );
    Ok(Outcome::Pass)
}

test!(remap huge: madvise_disallowed);
/// The advice upstream's pfnmap selftest expects refused on a VM_PFNMAP mapping, each EINVAL.
fn madvise_disallowed(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(false)?;
    let m = map(&f, 2 * ps(), ProtFlags::PROT_READ, MapFlags::MAP_SHARED, 0)?;
    m.read(0);
    for (advice, name) in [
        (libc::MADV_DONTNEED, "MADV_DONTNEED"),
        (libc::MADV_DONTNEED_LOCKED, "MADV_DONTNEED_LOCKED"),
        (libc::MADV_FREE, "MADV_FREE"),
        (libc::MADV_WIPEONFORK, "MADV_WIPEONFORK"),
        (libc::MADV_COLD, "MADV_COLD"),
        (libc::MADV_PAGEOUT, "MADV_PAGEOUT"),
        (libc::MADV_POPULATE_READ, "MADV_POPULATE_READ"),
        (libc::MADV_POPULATE_WRITE, "MADV_POPULATE_WRITE"),
    ] {
        // SAFETY: Advice about the first page of a mapping this function owns, which the
        // kernel must refuse; the program accesses the mapping only by volatile reads.
        let res = unsafe { libc::madvise(m.addr() as *mut libc::c_void, ps(), advice) };
        let res = if res == 0 { Ok(()) } else { Err(Errno::last()) };
        expect_errno(
            &format!("{name} on a VM_PFNMAP mapping"),
            res,
            Errno::EINVAL,
        )?;
    }
    Ok(Outcome::Pass)
}

test!(remap huge: munmap_split_map_again);
/// Upstream's munmap_split: unmap the first page of a two-page mapping, then map that page
/// again while the second is still mapped (x86's PAT tracking of the range must allow it);
/// both show the device's bytes.
fn munmap_split_map_again(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    pwrite(&f, &[0x71], 0).map_err(|e| e.to_string())?;
    pwrite(&f, &[0x72], ps()).map_err(|e| e.to_string())?;
    let m = map(&f, 2 * ps(), ProtFlags::PROT_READ, MapFlags::MAP_SHARED, 0)?;
    ensure!(
        m.read(0) == 0x71 && m.read(ps()) == 0x72,
        "the mapping shows other bytes"
    );
    let (ptr, _) = m.into_raw();
    // SAFETY: The first page of the mapping this function owns.
    unsafe { munmap(ptr, ps()) }.map_err(|e| format!("munmap(first page): {e}"))?;
    // SAFETY: The second page is still mapped; this object owns it from now on.
    let second = unsafe { Mapping::from_raw(ptr.byte_add(ps()), ps()) };
    let first = map(&f, ps(), ProtFlags::PROT_READ, MapFlags::MAP_SHARED, 0)?;
    ensure!(
        first.read(0) == 0x71 && second.read(0) == 0x72,
        "after mapping the first page again: {:#x} and {:#x}, expected 0x71 and 0x72",
        first.read(0),
        second.read(0)
    );
    Ok(Outcome::Pass)
}

test!(remap huge: fork_child_reads_untouched);
/// Upstream's fork test: a read-only shared mapping of an O_RDONLY fd, never touched by the
/// parent; a forked child reads every page, the device's bytes.
fn fork_child_reads_untouched(_cx: &Context, d: &Device) -> TestResult {
    let size = d.size()?;
    let data = pattern(74, size);
    pwrite(&d.open(true)?, &data, 0).map_err(|e| e.to_string())?;
    let f = d.open(false)?;
    let m = map(&f, size, ProtFlags::PROT_READ, MapFlags::MAP_SHARED, 0)?;
    child_ok(|| {
        ensure!(
            m.read_bytes(0, size) == data,
            "the child reads other bytes than the device"
        );
        Ok(())
    })?;
    Ok(Outcome::Pass)
}
