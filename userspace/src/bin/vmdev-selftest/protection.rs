//! Protection: permissions of mappings follow the fd and the mapping type; a mapping that may
//! never be written cannot be made writable; the nodes are root's.

use std::ffi::c_void;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags, mprotect};
use nix::unistd::{Uid, setuid};
use vmdev::mapping::Mapping;
use vmdev::maps::self_maps_entry;

use crate::common::*;
use crate::harness::{Context, Device, Outcome, TestResult, ensure, test};

test!(remap huge fault folio: maps_perms_follow_prot);
fn maps_perms_follow_prot(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let r = map(&f, ps(), ProtFlags::PROT_READ, MapFlags::MAP_SHARED, 0)?;
    let e = self_maps_entry(r.addr())?;
    ensure!(
        e.perms == "r--s",
        "shared read-only mapping shows {}, expected r--s",
        e.perms
    );
    let ro = d.open(false)?;
    let r2 = map(&ro, ps(), ProtFlags::PROT_READ, MapFlags::MAP_SHARED, ps())?;
    let e = self_maps_entry(r2.addr())?;
    ensure!(
        e.perms == "r--s",
        "shared mapping of an O_RDONLY fd shows {}, expected r--s",
        e.perms
    );
    ensure!(
        e.offset == ps() as u64,
        "offset {:#x}, expected {:#x}",
        e.offset,
        ps()
    );
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: rdonly_fd_shared_write_eacces);
fn rdonly_fd_shared_write_eacces(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(false)?;
    let live = d.live_vmas()?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    refused_cleanly(
        d,
        "MAP_SHARED PROT_WRITE of an O_RDONLY fd",
        mmap_errno(&f, ps(), rw, MapFlags::MAP_SHARED, 0),
        Errno::EACCES,
        live,
    )
}

/// `mprotect(PROT_WRITE)` of `m`, which can never become writable, must fail with EACCES.
fn mprotect_write_refused(m: &Mapping, what: &str) -> TestResult {
    let ptr = NonNull::new(m.addr() as *mut c_void).ok_or("null mapping")?;
    // SAFETY: The kernel must refuse; the mapping is unchanged.
    let res = unsafe { mprotect(ptr, m.len(), ProtFlags::PROT_READ | ProtFlags::PROT_WRITE) };
    expect_errno(
        &format!("mprotect(PROT_WRITE) of {what}"),
        res,
        Errno::EACCES,
    )?;
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: mprotect_write_on_readonly_eacces);
fn mprotect_write_on_readonly_eacces(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(false)?;
    let m = map(&f, ps(), ProtFlags::PROT_READ, MapFlags::MAP_SHARED, 0)?;
    mprotect_write_refused(&m, "a shared mapping of an O_RDONLY fd")
}

test!(remap huge fault folio: nonroot_cannot_open);
fn nonroot_cannot_open(_cx: &Context, d: &Device) -> TestResult {
    let mode = std::fs::metadata(&d.path)
        .map_err(|e| e.to_string())?
        .mode()
        & 0o777;
    ensure!(mode == 0o600, "mode {mode:o}, expected 0600");
    let path = d.path.clone();
    child_ok(move || {
        setuid(Uid::from_raw(65534)).map_err(|e| format!("setuid(nobody): {e}"))?;
        match File::open(&path) {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => Ok(()),
            other => Err(format!("open as nobody: {other:?}, expected EACCES")),
        }
    })?;
    Ok(Outcome::Pass)
}

test!(remap huge: private_writable_einval);
fn private_writable_einval(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let live = d.live_vmas()?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    refused_cleanly(
        d,
        &format!("MAP_PRIVATE PROT_WRITE on the {} device", d.name()),
        mmap_errno(&f, ps(), rw, MapFlags::MAP_PRIVATE, 0),
        Errno::EINVAL,
        live,
    )
}

test!(remap huge: private_readonly_stays_readonly);
fn private_readonly_stays_readonly(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = map(&f, ps(), ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE, 0)?;
    mprotect_write_refused(&m, &format!("a private {} mapping", d.name()))
}

test!(fault folio: maps_private_perms);
fn maps_private_perms(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let rw = map(
        &f,
        ps(),
        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        MapFlags::MAP_PRIVATE,
        3 * ps(),
    )?;
    let e = self_maps_entry(rw.addr())?;
    ensure!(
        e.perms == "rw-p" && e.offset == 3 * ps() as u64,
        "private rw mapping shows {} offset {:#x}",
        e.perms,
        e.offset
    );
    let r = map(&f, ps(), ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE, 0)?;
    let e = self_maps_entry(r.addr())?;
    ensure!(
        e.perms == "r--p",
        "private read-only mapping shows {}",
        e.perms
    );
    Ok(Outcome::Pass)
}
